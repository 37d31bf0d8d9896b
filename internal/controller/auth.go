package controller

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/store"
)

// tokenPrefix marks sparkwing controller tokens, so a leaked one is
// recognisable (and secret scanners can look for it).
const tokenPrefix = "swc_"

// HashToken is what the store keeps of a token: its SHA-256, in hex.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes a token named name with scopes, stores its hash and
// returns the secret, which is shown once and never stored.
func CreateToken(ctx context.Context, st *store.SQL, name string, scopes []string, now time.Time) (string, error) {
	if name == "" {
		return "", errors.New("a token needs a name (--name): it is how you list and revoke it")
	}
	if len(scopes) == 0 {
		return "", fmt.Errorf("a token needs at least one scope (--scope): %s", strings.Join(store.Scopes, ", "))
	}
	for _, sc := range scopes {
		if !slices.Contains(store.Scopes, sc) {
			return "", fmt.Errorf("unknown scope %q: use %s", sc, strings.Join(store.Scopes, ", "))
		}
	}
	var b [32]byte
	rand.Read(b[:])
	secret := tokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	t := store.Token{ID: store.NewID("t", now), Name: name, Hash: HashToken(secret), Scopes: scopes, Created: now}
	if err := st.CreateToken(ctx, t); err != nil {
		return "", err
	}
	return secret, nil
}

// with wraps a handler: the request must carry a valid token with scope,
// and the handler's error becomes the response.
func (s *Server) with(scope string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.authorize(r, scope); err != nil {
			return err
		}
		return h(w, r)
	})
}

// handle turns a handler's error into its response.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.respondError(w, r, err)
		}
	})
}

func (s *Server) authorize(r *http.Request, scope string) error {
	secret, ok := bearer(r)
	if !ok {
		return &httpError{status: http.StatusUnauthorized, msg: fmt.Sprintf("this endpoint needs a token with the %q scope: send Authorization: Bearer TOKEN (sparkwing-controller token create)", scope)}
	}
	tok, err := s.st.TokenByHash(r.Context(), HashToken(secret))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !tok.Revoked.IsZero()) {
		return &httpError{status: http.StatusUnauthorized, msg: "the token is unknown or revoked: create one with sparkwing-controller token create"}
	}
	if err != nil {
		return err
	}
	if !tok.Has(scope) {
		return &httpError{status: http.StatusForbidden, msg: fmt.Sprintf("token %q has scopes %s; this endpoint needs %q", tok.Name, strings.Join(tok.Scopes, ","), scope)}
	}
	return nil
}

// bearer returns the request's token: the Authorization header's bearer
// token, or the password of basic auth (what git sends when a token is
// given as http://x:TOKEN@host/).
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok && t != "" {
		return strings.TrimSpace(t), true
	}
	if _, pw, ok := r.BasicAuth(); ok && pw != "" {
		return pw, true
	}
	return "", false
}

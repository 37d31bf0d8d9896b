package remote

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
)

// An entry on the remote is an envelope around the local entry file:
//
//	sparkwing-remote v1 SIG
//	{"namespace":"main","key":"sha256:…"}
//	the entry file (cache.EncodeEntry)
//
// SIG is the hex HMAC-SHA256, under the team's key, of everything after
// the first line, or "unsigned" when the writer had no key. The envelope
// is stored at address(namespace, key): a run finds an entry only under a
// namespace it reads, and the signature binds the namespace, so an entry
// copied to another namespace's address is refused.
const envelopeMagic = "sparkwing-remote v1 "

const unsigned = "unsigned"

// maxEnvelope bounds what is read of a remote entry (as the local store
// bounds an entry file).
const maxEnvelope = 1 << 30

type envelopeHeader struct {
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
}

// Address is where namespace ns keeps the entry for k: a SHA-256, as
// bazel-remote's /ac/ wants.
func Address(ns string, k cache.Key) string {
	sum := sha256.Sum256([]byte("sparkwing-ac v1\x00" + ns + "\x00" + k.Hex()))
	return hex.EncodeToString(sum[:])
}

// LatestAddress is where namespace ns keeps the newest entry it stored for
// a pipeline's job, for `sparkwing why` to compare with.
func LatestAddress(ns, pipeline, job string) string {
	sum := sha256.Sum256([]byte("sparkwing-latest v1\x00" + ns + "\x00" + pipeline + "\x00" + job))
	return hex.EncodeToString(sum[:])
}

// seal makes e's envelope for namespace ns, signed with key (nil: unsigned).
func seal(e *cache.Entry, ns string, key []byte) ([]byte, error) {
	file, err := cache.EncodeEntry(e)
	if err != nil {
		return nil, err
	}
	head, err := json.Marshal(envelopeHeader{Namespace: ns, Key: e.Key})
	if err != nil {
		return nil, err
	}
	body := append(append(head, '\n'), file...)
	sig := unsigned
	if key != nil {
		sig = sign(key, body)
	}
	return append([]byte(envelopeMagic+sig+"\n"), body...), nil
}

func sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// RejectedError is an envelope that is whole but may not be trusted: it
// is ignored with a warning.
type RejectedError struct{ Why string }

func (e *RejectedError) Error() string { return e.Why }

// open checks the envelope read at namespace ns's address for k and
// returns its entry. With a key, only an envelope signed with that key for
// that namespace is accepted (*RejectedError otherwise); without one,
// signatures cannot be checked and any whole envelope is. A damaged
// envelope is *cache.CorruptError.
func open(data []byte, ns string, k cache.Key, key []byte) (*cache.Entry, error) {
	e, err := openAny(data, ns, key)
	if err == nil && e.Key != k.String() {
		err = &cache.CorruptError{What: "remote entry " + k.Hex()[:12], Err: fmt.Errorf("holds key %s", e.Key)}
	}
	return e, err
}

// PeekEntry decodes an envelope's entry without checking its signature or
// namespace: for pruning, which only learns from it which blobs are used.
func PeekEntry(data []byte) (*cache.Entry, error) {
	_, body, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return nil, errors.New("bad header")
	}
	_, file, _ := bytes.Cut(body, []byte("\n"))
	return cache.DecodeEntry(file)
}

// openAny is open for an envelope whose key is not known beforehand.
func openAny(data []byte, ns string, key []byte) (*cache.Entry, error) {
	corrupt := func(err error) error { return &cache.CorruptError{What: "remote entry", Err: err} }
	first, body, ok := bytes.Cut(data, []byte("\n"))
	if !ok || !bytes.HasPrefix(first, []byte(envelopeMagic)) {
		return nil, corrupt(errors.New("bad header"))
	}
	sig := string(first[len(envelopeMagic):])
	if key != nil {
		switch {
		case sig == unsigned:
			return nil, &RejectedError{"it is unsigned"}
		case !hmac.Equal([]byte(sig), []byte(sign(key, body))):
			return nil, &RejectedError{"it is signed with another key (or altered)"}
		}
	}
	headLine, file, _ := bytes.Cut(body, []byte("\n"))
	var head envelopeHeader
	if err := json.Unmarshal(headLine, &head); err != nil {
		return nil, corrupt(err)
	}
	if head.Namespace != ns {
		return nil, &RejectedError{fmt.Sprintf("it was written by namespace %q, found under %q", head.Namespace, ns)}
	}
	e, err := cache.DecodeEntry(file)
	if err != nil {
		return nil, corrupt(err)
	}
	if head.Key != e.Key {
		return nil, corrupt(fmt.Errorf("holds key %s under %s", e.Key, head.Key))
	}
	return e, nil
}

package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// SQL is the store over SQLite or PostgreSQL.
type SQL struct {
	db *sql.DB
	pg bool
}

// Open opens the store named by dsn and brings its schema up to date:
// "postgres://…" (or "postgresql://…") is PostgreSQL; anything else is
// the path of a SQLite file, created if missing.
func Open(ctx context.Context, dsn string) (*SQL, error) {
	return open(ctx, dsn, Version)
}

// OpenAt is Open stopping the migrations at version: for tests of
// upgrades from an older schema.
func OpenAt(ctx context.Context, dsn string, version int) (*SQL, error) {
	return open(ctx, dsn, version)
}

func open(ctx context.Context, dsn string, version int) (*SQL, error) {
	s := &SQL{pg: strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")}
	var err error
	if s.pg {
		s.db, err = sql.Open("pgx", dsn)
	} else {
		s.db, err = openSQLite(dsn)
	}
	if err != nil {
		return nil, err
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open %s: %w", redact(dsn), err)
	}
	if err := s.migrate(ctx, version); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("%s: %w", redact(dsn), err)
	}
	return s, nil
}

// openSQLite uses one connection: SQLite has one writer anyway, and one
// connection turns what would be "database is locked" under contention
// into a short wait. WAL keeps a crash from losing committed writes.
func openSQLite(path string) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// redact drops the password from a PostgreSQL URL for messages.
func redact(dsn string) string {
	if at := strings.LastIndex(dsn, "@"); at > 0 {
		if i := strings.Index(dsn, "://"); i > 0 && i < at {
			user := dsn[i+3 : at]
			if c := strings.Index(user, ":"); c >= 0 {
				return dsn[:i+3] + user[:c] + ":***" + dsn[at:]
			}
		}
	}
	return dsn
}

// Close closes the database.
func (s *SQL) Close() error { return s.db.Close() }

// Dialect is "sqlite" or "postgres".
func (s *SQL) Dialect() string {
	if s.pg {
		return "postgres"
	}
	return "sqlite"
}

// q turns the ? placeholders of a statement into PostgreSQL's $n.
func (s *SQL) q(stmt string) string {
	if !s.pg {
		return stmt
	}
	var b strings.Builder
	n := 0
	for _, r := range stmt {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// inTx runs fn in a transaction and commits it if fn returns nil.
func (s *SQL) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// NewID returns a fresh identifier: a time prefix, so ids sort by
// creation, and 40 random bits.
func NewID(prefix string, now time.Time) string {
	var b [5]byte
	rand.Read(b[:])
	return prefix + strconv.FormatInt(now.UnixMilli(), 36) + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func isUnique(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint") || strings.Contains(msg, "SQLSTATE 23505")
}

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps and slices of strings are stored
	}
	return string(data)
}

// --- tokens ---

// CreateToken stores t; ErrExists if its name is taken.
func (s *SQL) CreateToken(ctx context.Context, t Token) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO tokens (id, name, hash, scopes, created) VALUES (?, ?, ?, ?, ?)`),
		t.ID, t.Name, t.Hash, strings.Join(t.Scopes, ","), nanos(t.Created))
	if isUnique(err) {
		return fmt.Errorf("token %q: %w", t.Name, ErrExists)
	}
	return err
}

const tokenCols = `id, name, hash, scopes, created, revoked`

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var scopes string
	var created, revoked int64
	if err := row.Scan(&t.ID, &t.Name, &t.Hash, &scopes, &created, &revoked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return t, ErrNotFound
		}
		return t, err
	}
	t.Scopes = strings.Split(scopes, ",")
	t.Created, t.Revoked = fromNanos(created), fromNanos(revoked)
	return t, nil
}

// TokenByHash finds a token by the hash of its secret, revoked or not.
func (s *SQL) TokenByHash(ctx context.Context, hash string) (Token, error) {
	return scanToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+tokenCols+` FROM tokens WHERE hash = ?`), hash))
}

// Tokens lists every token, oldest first.
func (s *SQL) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY created, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes the token with that name or id.
func (s *SQL) RevokeToken(ctx context.Context, nameOrID string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE tokens SET revoked = ? WHERE (name = ? OR id = ?) AND revoked = 0`), nanos(at), nameOrID, nameOrID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %q: %w (or already revoked)", nameOrID, ErrNotFound)
	}
	return nil
}

// --- repositories ---

// PutRepo registers r, or changes the URL of the repository of that name.
func (s *SQL) PutRepo(ctx context.Context, r Repo) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO repos (name, url, created) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET url = excluded.url`), r.Name, r.URL, nanos(r.Created))
	return err
}

// Repo returns the repository registered as name.
func (s *SQL) Repo(ctx context.Context, name string) (Repo, error) {
	var r Repo
	var created int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT name, url, created FROM repos WHERE name = ?`), name).Scan(&r.Name, &r.URL, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	r.Created = fromNanos(created)
	return r, err
}

// Repos lists the registered repositories by name.
func (s *SQL) Repos(ctx context.Context) ([]Repo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, url, created FROM repos ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Repo
	for rows.Next() {
		var r Repo
		var created int64
		if err := rows.Scan(&r.Name, &r.URL, &created); err != nil {
			return nil, err
		}
		r.Created = fromNanos(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteRepo forgets a repository; its runs stay.
func (s *SQL) DeleteRepo(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM repos WHERE name = ?`), name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("repository %q: %w", name, ErrNotFound)
	}
	return nil
}

// --- webhook deliveries and schedules ---

// FirstDelivery records a webhook delivery id and reports whether it is
// the first time it is seen.
func (s *SQL) FirstDelivery(ctx context.Context, id string, at time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO deliveries (id, received) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`), id, nanos(at))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// DeliverySeen reports whether FirstDelivery recorded id before.
func (s *SQL) DeliverySeen(ctx context.Context, id string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT 1 FROM deliveries WHERE id = ?`), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// Tick returns when the schedule named name last fired (zero if never).
func (s *SQL) Tick(ctx context.Context, name string) (time.Time, error) {
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT at FROM ticks WHERE name = ?`), name).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	return fromNanos(at), err
}

// SetTick records that the schedule named name fired for time at.
func (s *SQL) SetTick(ctx context.Context, name string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO ticks (name, at) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET at = excluded.at`), name, nanos(at))
	return err
}

package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// migrations are applied in order, each in a transaction with the row
// that records it, so a controller killed mid-migration starts again
// from the last whole one. Never edit a released migration; add one.
// Statements are written for SQLite; pgWords turns them into PostgreSQL.
var migrations = [][]string{
	1: {
		`CREATE TABLE tokens (
			id TEXT PRIMARY KEY,
			name TEXT NOT NULL UNIQUE,
			hash TEXT NOT NULL UNIQUE,
			scopes TEXT NOT NULL,
			created BIGINT NOT NULL,
			revoked BIGINT NOT NULL DEFAULT 0)`,
		`CREATE TABLE repos (
			name TEXT PRIMARY KEY,
			url TEXT NOT NULL,
			created BIGINT NOT NULL)`,
		`CREATE TABLE runs (
			id TEXT PRIMARY KEY,
			repo TEXT NOT NULL,
			branch TEXT NOT NULL,
			sha TEXT NOT NULL,
			pipeline TEXT NOT NULL,
			args TEXT NOT NULL,
			runs_on TEXT NOT NULL,
			idem_key TEXT UNIQUE,
			bundle BLOB,
			status TEXT NOT NULL,
			exit_code INTEGER NOT NULL DEFAULT 0,
			message TEXT NOT NULL DEFAULT '',
			attempt INTEGER NOT NULL DEFAULT 0,
			fence BIGINT NOT NULL DEFAULT 0,
			runner TEXT NOT NULL DEFAULT '',
			lease_until BIGINT NOT NULL DEFAULT 0,
			cancel INTEGER NOT NULL DEFAULT 0,
			log_size BIGINT NOT NULL DEFAULT 0,
			log_base BIGINT NOT NULL DEFAULT 0,
			created BIGINT NOT NULL,
			started BIGINT NOT NULL DEFAULT 0,
			finished BIGINT NOT NULL DEFAULT 0)`,
		`CREATE INDEX runs_queue ON runs (status, created, id)`,
		`CREATE TABLE log_chunks (
			run_id TEXT NOT NULL,
			off BIGINT NOT NULL,
			end_off BIGINT NOT NULL,
			data BLOB NOT NULL,
			PRIMARY KEY (run_id, off))`,
	},
	// 2: dirty runs (a patch on top of the commit), webhook deliveries
	// seen, and the schedule's last ticks.
	2: {
		`ALTER TABLE runs ADD COLUMN dirty INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE runs ADD COLUMN patch BLOB`,
		`CREATE TABLE deliveries (
			id TEXT PRIMARY KEY,
			received BIGINT NOT NULL)`,
		`CREATE TABLE ticks (
			name TEXT PRIMARY KEY,
			at BIGINT NOT NULL)`,
	},
}

// Version is the schema version this build migrates to.
var Version = len(migrations) - 1

func pgWords(stmt string) string {
	return strings.ReplaceAll(stmt, " BLOB", " BYTEA")
}

// migrate brings the schema to target (Version in production; tests
// stop earlier to check upgrades from an older schema).
func (s *SQL) migrate(ctx context.Context, target int) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	for {
		done, err := s.migrateOne(ctx, target)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next migration, if any, and reports whether
// the schema is at target.
func (s *SQL) migrateOne(ctx context.Context, target int) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var have sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&have); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	v := int(have.Int64)
	if v > Version {
		return false, fmt.Errorf("the database's schema is version %d, newer than this controller's %d: run a newer sparkwing-controller", v, Version)
	}
	if v >= target {
		return true, nil
	}
	for _, stmt := range migrations[v+1] {
		if s.pg {
			stmt = pgWords(stmt)
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return false, fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_version (version) VALUES (?)`), v+1); err != nil {
		return false, err
	}
	return false, tx.Commit()
}

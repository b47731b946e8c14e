package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/purgehook/purgehook/internal/pgtest"
)

// drivers runs a suite against each driver, in parallel with the other
// suites: every store passes the same tests.
func drivers(t *testing.T, test func(t *testing.T, open func(t *testing.T) *Store)) {
	t.Helper()
	t.Parallel()
	for _, d := range []string{SQLite, Postgres} {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			test(t, func(t *testing.T) *Store {
				t.Helper()
				dsn := filepath.Join(t.TempDir(), "s.db")
				if d == Postgres {
					dsn = pgtest.DSN(t)
				}
				s, err := Open(context.Background(), d, dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}

func TestOpenTwiceIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(context.Background(), "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), "sqlite", path)
	if err == nil || !strings.Contains(err.Error(), "is in use by pid") {
		t.Fatalf("second open: %v", err)
	}
	s.Close()
	s, err = Open(context.Background(), "sqlite", path)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s.Close()
}

func TestOpen(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		if err := s.Ready(t.Context()); err != nil {
			t.Errorf("ready: %v", err)
		}
	})
	if _, err := Open(context.Background(), "mysql", ""); err == nil || !strings.Contains(err.Error(), "unknown driver") {
		t.Errorf("unknown driver: %v", err)
	}
}

// mustTx runs fn in a transaction and fails the test on error.
func mustTx(t *testing.T, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.InTx(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func isNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("%s: %v, want ErrNotFound", what, err)
	}
}

// A journal that answers reads but takes no writes is not ready: SQLite
// made read-only (as on a read-only file system), PostgreSQL turned into
// a read-only database (as a standby after failover).
func TestReadyNeedsAWritableJournal(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		if err := s.Ready(ctx); err != nil {
			t.Fatalf("ready: %v", err)
		}
		if s.env.driver == SQLite {
			// The store has one connection: the pragma holds for it.
			if _, err := s.db.ExecContext(ctx, `PRAGMA query_only = ON`); err != nil {
				t.Fatal(err)
			}
		} else {
			if _, err := s.db.ExecContext(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = on', current_database()); END $$`); err != nil {
				t.Fatal(err)
			}
			s.db.SetMaxIdleConns(0) // new connections are read-only
			s.db.SetMaxIdleConns(2)
		}
		// Reads still work: the old check (a read) said ready.
		var n int
		if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM ph_migration`).Scan(&n); err != nil || n == 0 {
			t.Fatalf("reads: %d %v", n, err)
		}
		err := s.Ready(ctx)
		if err == nil || !strings.Contains(err.Error(), "journal not writable") || !strings.Contains(err.Error(), "read") {
			t.Fatalf("ready on a read-only journal: %v", err)
		}
	})
}

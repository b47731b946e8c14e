package store

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
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
			test(t, func(t *testing.T) *Store { return openStore(t, d) })
		})
	}
}

// openStore opens an empty store of driver for t, closed when t ends.
func openStore(t *testing.T, driver string) *Store {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "s.db")
	if driver == Postgres {
		dsn = pgtest.DSN(t)
	}
	s, err := Open(context.Background(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
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

// The job workers' commits do not wait for the disk; the ones someone is
// answered after (InTxDurable) do, and the connection they borrow goes
// back to the workers as it was, whether the transaction commits or not.
func TestOnlyDurableTransactionsWaitForTheDisk(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := context.Background()
		level := func(q querier) string {
			t.Helper()
			query := `PRAGMA synchronous`
			if s.Driver() == Postgres {
				query = `SHOW synchronous_commit`
			}
			var v string
			if err := q.QueryRowContext(ctx, query).Scan(&v); err != nil {
				t.Fatal(err)
			}
			return v
		}
		// SQLite's levels: 1 NORMAL (written, not synced), 2 FULL.
		lazy, durable := "1", "2"
		if s.Driver() == Postgres {
			lazy, durable = "off", "on"
		}
		mustTx(t, s, func(tx *Tx) error {
			if got := level(tx.q); got != lazy {
				t.Errorf("a worker's transaction commits at %s, want %s", got, lazy)
			}
			return nil
		})
		for _, fail := range []bool{false, true} {
			err := s.InTxDurable(ctx, func(tx *Tx) error {
				if got := level(tx.q); got != durable {
					t.Errorf("a durable transaction commits at %s, want %s", got, durable)
				}
				if fail {
					return errors.New("rolled back")
				}
				return nil
			})
			if fail != (err != nil) {
				t.Fatalf("InTxDurable: %v", err)
			}
			if got := level(s.q); got != lazy {
				t.Errorf("after a durable transaction (failed %v) the pool commits at %s, want %s", fail, got, lazy)
			}
		}
	})
}

// A SQLite store keeps each of its pool queries prepared: the second
// lookup of the same query reuses the first's statement, and a query that
// fails to prepare still reports its own error.
func TestSQLitePoolQueriesArePrepared(t *testing.T) {
	t.Parallel()
	s := openStore(t, SQLite)
	ctx := context.Background()
	for range 3 {
		if _, _, err := s.DeliveryFindLatest(ctx, "cms", "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("DeliveryFindLatest: %v", err)
		}
		if _, err := s.DeliveryGet(ctx, 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("DeliveryGet: %v", err)
		}
	}
	if s.readPrep == nil || len(s.readPrep.m) != 1 {
		t.Errorf("read pool statements: %v, want the one lookup", s.readPrep)
	}
	if n := len(s.prep.m); n == 0 {
		t.Error("the pool kept no statement")
	}
	before := len(s.prep.m)
	if _, err := s.q.ExecContext(ctx, `NOT SQL`); err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Errorf("a bad query: %v, want its syntax error", err)
	}
	if len(s.prep.m) != before {
		t.Error("a query that does not prepare was kept")
	}
	// Queries built for their arguments stop being kept at the bound,
	// and still run.
	for i := range maxPrepared + 10 {
		var n int
		if err := s.q.QueryRowContext(ctx, "SELECT "+strconv.Itoa(i)).Scan(&n); err != nil || n != i {
			t.Fatalf("SELECT %d: %d, %v", i, n, err)
		}
	}
	if len(s.prep.m) != maxPrepared {
		t.Errorf("%d statements kept, want the bound %d", len(s.prep.m), maxPrepared)
	}
}

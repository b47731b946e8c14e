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

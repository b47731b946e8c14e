// Package pgtest gives each test its own PostgreSQL database on the server
// named by PURGEHOOK_TEST_POSTGRES (a DSN whose user may create databases),
// and drops it when the test ends. Without the variable the test is
// skipped, unless the CI variable is set: in CI a missing PostgreSQL fails
// the test, so a broken set-up cannot pass silently.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the driver
)

// Env names the variable with the server's DSN.
const Env = "PURGEHOOK_TEST_POSTGRES"

// DSN creates a fresh database and returns a DSN for it.
func DSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(Env)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set; CI must provide a PostgreSQL server (scripts/test.sh starts one)", Env)
		}
		t.Skipf("%s is not set; set it to a PostgreSQL DSN to run this test", Env)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := make([]byte, 6)
	rand.Read(b)
	name := "purgehook_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database (is PostgreSQL at %s running?): %v", redacted(base), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		t.Fatalf("pgtest: %s must be a URL DSN (postgres://user@host:port/db)", Env)
	}
	u.Path = "/" + name
	return u.String()
}

func redacted(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

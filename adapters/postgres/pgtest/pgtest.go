// Package pgtest gives integration tests a fresh, fully migrated PostgreSQL
// database of their own.
//
// The server comes from ORDERFLOW_TEST_DATABASE_URL, which `make test`
// (scripts/test.sh, via scripts/services.sh) exports. Each call creates a new
// database named t_<random hex> on that server, applies every migration, and
// drops it again when the test ends, so tests never share state and may run in
// parallel.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/migrations"
)

// EnvVar names the variable holding the DSN of the test server.
const EnvVar = "ORDERFLOW_TEST_DATABASE_URL"

// setupTimeout bounds creating, migrating and dropping one database.
const setupTimeout = 60 * time.Second

// BaseURL returns the DSN of the test server, failing tb when it is not set.
func BaseURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		tb.Fatalf("pgtest: %s is not set; run tests via make test (or: eval \"$(scripts/services.sh env test)\" after scripts/services.sh start test)", EnvVar)
	}
	return base
}

// NewDatabase creates a fresh database, migrates it to the latest schema,
// registers its removal with tb.Cleanup and returns its DSN.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	base := BaseURL(tb)
	name := "t_" + randomHex(tb, 8)

	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := admin(ctx, base, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if err := admin(ctx, base, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			// A leftover database is harmless: the test instance is wiped on its next start.
			tb.Logf("pgtest: drop database %s: %v", name, err)
		}
	})

	dsn, err := withDatabase(base, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	if err := migrations.Up(ctx, dsn); err != nil {
		tb.Fatalf("pgtest: migrate %s: %v", name, err)
	}
	return dsn
}

// NewPool creates a fresh migrated database (see NewDatabase) and returns a
// pool connected to it, closed on cleanup, together with its DSN.
func NewPool(tb testing.TB) (*pgxpool.Pool, string) {
	tb.Helper()
	dsn := NewDatabase(tb)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		tb.Fatalf("pgtest: connect pool: %v", err)
	}
	// Registered after the drop in NewDatabase, so it runs before it.
	tb.Cleanup(pool.Close)
	if err := pool.Ping(ctx); err != nil {
		tb.Fatalf("pgtest: ping: %v", err)
	}
	return pool, dsn
}

// admin runs one statement on the server's maintenance connection (base).
func admin(ctx context.Context, base, sql string) error {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns base pointing at database name instead.
func withDatabase(base, name string) (string, error) {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			return "", err
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// keyword/value form: a later keyword overrides an earlier one.
	return base + " dbname=" + name, nil
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("pgtest: random: %v", err)
	}
	return hex.EncodeToString(b)
}

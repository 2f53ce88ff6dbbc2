package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/migrations"
)

// database is the run's own database, created on the server of the
// configured URL and dropped at the end, so runs never see each other's data.
type database struct {
	serverURL string // the configured URL, used to create and drop
	name      string
	url       string // the configured URL with the run's database
	pool      *pgxpool.Pool
}

// createDatabase creates bench_<timestamp>_<suite>, migrates it and opens a
// pool of conns connections to it.
func createDatabase(ctx context.Context, serverURL, suite string, conns int) (*database, error) {
	d := &database{serverURL: serverURL, name: "bench_" + time.Now().Format("20060102_150405") + "_" + suite}
	var err error
	if d.url, err = withDatabase(serverURL, d.name); err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redactURL(serverURL), err)
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{d.name}.Sanitize())
	_ = conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("create database %s: %w", d.name, err)
	}
	if err := d.open(ctx, conns); err != nil {
		return nil, errors.Join(err, d.drop())
	}
	return d, nil
}

func (d *database) open(ctx context.Context, conns int) error {
	if err := migrations.Up(ctx, d.url); err != nil {
		return err
	}
	cfg, err := pgxpool.ParseConfig(d.url)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	cfg.MaxConns = int32(conns)
	if d.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return fmt.Errorf("open database %s: %w", d.name, err)
	}
	return d.pool.Ping(ctx)
}

// drop closes the pool and drops the database, even when the run was
// interrupted; WITH (FORCE) ends sessions a killed API may have left.
func (d *database) drop() error {
	if d.pool != nil {
		d.pool.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, d.serverURL)
	if err != nil {
		return fmt.Errorf("drop database %s: %w", d.name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", d.name, err)
	}
	return nil
}

// serverDescription names the server version and the durability settings,
// which change write throughput by an order of magnitude.
func (d *database) serverDescription(ctx context.Context) string {
	var version, fsync, syncCommit string
	err := d.pool.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('fsync'), current_setting('synchronous_commit')`).
		Scan(&version, &fsync, &syncCommit)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return fmt.Sprintf("PostgreSQL %s (fsync=%s, synchronous_commit=%s)", version, fsync, syncCommit)
}

// withDatabase returns dsn pointing at database name instead; dsn is a URL
// (postgres://...) or keyword/value settings (host=... dbname=...).
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("database URL: %w", err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// In keyword/value form a later setting wins.
	return dsn + " dbname=" + name, nil
}

// redactURL names the server of dsn for messages, without a password.
func redactURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "the server of --database-url" // keyword/value form may hold password=
	}
	return u.Redacted()
}

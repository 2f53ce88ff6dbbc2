package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// queryCounter counts the PostgreSQL statements of the API that serves the
// mix's reads, from PostgreSQL's own pg_stat_statements: that API logs in as
// a role of its own, so its statements are told apart from the writing API's,
// the relay's, the projector's and ours without guessing from their text.
type queryCounter struct {
	e         *env
	role      string
	readerURL string
	// unavailable says why pg_stat_statements cannot be read ("" when it can).
	unavailable string
}

// newQueryCounter creates the reading API's role (LOGIN, SELECT on the
// suite's tables) and the pg_stat_statements extension in the suite's
// database. Without the module loaded (shared_preload_libraries, which
// scripts/bench.sh sets) the suite still runs and says so.
func newQueryCounter(ctx context.Context, e *env) (*queryCounter, error) {
	c := &queryCounter{e: e, role: "obench_reader_" + time.Now().Format("20060102_150405")}
	ident := pgx.Identifier{c.role}.Sanitize()
	for _, sql := range []string{
		"CREATE ROLE " + ident + " LOGIN",
		"GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + ident,
	} {
		if _, err := e.db.pool.Exec(ctx, sql); err != nil {
			return nil, errors.Join(fmt.Errorf("reader role: %s: %w", sql, err), c.close())
		}
	}
	var err error
	if c.readerURL, err = withUser(e.db.url, c.role); err != nil {
		return nil, errors.Join(err, c.close())
	}
	if _, err := e.db.pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		c.unavailable = err.Error()
	} else if _, err := e.db.pool.Exec(ctx, "SELECT 1 FROM pg_stat_statements LIMIT 1"); err != nil {
		c.unavailable = err.Error()
	}
	if c.unavailable != "" {
		// Nothing to tell apart: the reading API logs in as the others do,
		// which also spares servers that want a password for every role.
		c.readerURL = e.db.url
		e.printf("  PostgreSQL queries will not be counted: %s", c.unavailable)
	}
	return c, nil
}

// close drops the role; its grants live in the suite's database, which
// DROP OWNED clears first.
func (c *queryCounter) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ident := pgx.Identifier{c.role}.Sanitize()
	var errs []error
	for _, sql := range []string{"DROP OWNED BY " + ident, "DROP ROLE " + ident} {
		if _, err := c.e.db.pool.Exec(ctx, sql); err != nil {
			errs = append(errs, fmt.Errorf("drop the reader role: %s: %w", sql, err))
		}
	}
	// A role that was never created leaves nothing to report.
	if len(errs) > 0 && strings.Contains(errors.Join(errs...).Error(), "does not exist") {
		return nil
	}
	return errors.Join(errs...)
}

// queryDelta is calls per normalised statement text.
type queryDelta struct {
	available bool
	calls     map[string]float64
}

// snapshot reads the reader role's calls per statement in the suite's database.
func (c *queryCounter) snapshot(ctx context.Context) (queryDelta, error) {
	if c.unavailable != "" {
		return queryDelta{}, nil
	}
	rows, err := c.e.db.pool.Query(ctx, `SELECT s.query, sum(s.calls)::float8
		FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
		WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND r.rolname = $1
		GROUP BY s.query`, c.role)
	if err != nil {
		return queryDelta{}, fmt.Errorf("read pg_stat_statements: %w", err)
	}
	d := queryDelta{available: true, calls: map[string]float64{}}
	for rows.Next() {
		var q string
		var n float64
		if err := rows.Scan(&q, &n); err != nil {
			rows.Close()
			return queryDelta{}, err
		}
		d.calls[q] += n
	}
	return d, rows.Err()
}

func (d queryDelta) minus(o queryDelta) queryDelta {
	out := queryDelta{available: d.available && o.available, calls: map[string]float64{}}
	for q, n := range d.calls {
		if n -= o.calls[q]; n != 0 {
			out.calls[q] = n
		}
	}
	return out
}

// liveStockQuery identifies the product details' live stock read
// (reads.ProductStock in adapters/postgres): the one read never cached.
const liveStockQuery = "SELECT stock_level, version FROM products WHERE id ="

// split is the statements' calls apart from the live stock reads, and those.
func (d queryDelta) split() (other, stock float64) {
	for q, n := range d.calls {
		if strings.Contains(strings.Join(strings.Fields(q), " "), liveStockQuery) {
			stock += n
		} else {
			other += n
		}
	}
	return other, stock
}

// top lists the n most frequent statements, shortened, with their calls.
func (d queryDelta) top(n int) string {
	type qc struct {
		q string
		n float64
	}
	var all []qc
	for q, c := range d.calls {
		all = append(all, qc{strings.Join(strings.Fields(q), " "), c})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].q < all[j].q })
	var parts []string
	for _, x := range all[:min(n, len(all))] {
		q := x.q
		if len(q) > 90 {
			q = q[:90] + "…"
		}
		parts = append(parts, fmt.Sprintf("%s × `%s`", thousands(x.n), q))
	}
	return strings.Join(parts, "; ")
}

// withUser returns dsn logging in as user instead, without a password (the
// bench servers trust loopback connections).
func withUser(dsn, user string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("database URL: %w", err)
		}
		u.User = url.User(user)
		return u.String(), nil
	}
	// In keyword/value form a later setting wins.
	return dsn + " user=" + user + " password=''", nil
}

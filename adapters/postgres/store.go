package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/app"
)

// EventsChannel is the LISTEN/NOTIFY channel notified after every commit
// that appended events, so the relay wakes at once instead of at its poll.
const EventsChannel = "orderflow_events"

// DefaultSnapshotEvery is how many events a stream grows between snapshots:
// loading an aggregate folds at most this many events. Hot products grow by
// one event per order, so the interval is short; a snapshot is one upsert.
const DefaultSnapshotEvery = 25

// Store implements app.Store and app.ReadModel.
type Store struct {
	reads
	pool  *pgxpool.Pool
	codec *app.EventCodec
	// Now stamps events; a field so tests can fix the clock.
	Now func() time.Time
	// SnapshotEvery is the snapshot interval in events.
	SnapshotEvery int64

	// notifyPending and notifying coalesce relay wake-ups; see wakeRelay.
	notifyPending, notifying atomic.Bool
}

// NewStore returns a store over pool.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{
		reads:         reads{q: pool},
		pool:          pool,
		codec:         app.NewEventCodec(),
		Now:           time.Now,
		SnapshotEvery: DefaultSnapshotEvery,
	}
}

// Ping reports whether PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Update runs fn in one transaction; see app.Store.
func (s *Store) Update(ctx context.Context, fn func(ctx context.Context, tx app.Tx) error) error {
	var t *txn
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		t = &txn{reads: reads{q: tx}, tx: tx, store: s}
		return fn(ctx, t)
	})
	if err == nil && t.appended {
		s.wakeRelay()
	}
	return classify(err)
}

// wakeRelay sends the relay a notification soon after a commit that
// appended events. A NOTIFY inside the appending transaction would take
// PostgreSQL's global notification lock at every commit, serialising all
// writers (measured: most sampled order commits waited on it); here one
// goroutine at a time notifies, and commits that happen meanwhile share the
// next notification. A lost notification costs only the relay's poll.
func (s *Store) wakeRelay() {
	s.notifyPending.Store(true)
	if s.notifying.CompareAndSwap(false, true) {
		go s.notifyRelay()
	}
}

func (s *Store) notifyRelay() {
	for {
		for s.notifyPending.Swap(false) {
			_, _ = s.pool.Exec(context.Background(), `SELECT pg_notify($1, '')`, EventsChannel)
		}
		s.notifying.Store(false)
		// A wake-up that arrived after the last Swap but before the Store
		// found notifying still true: take it, unless its caller already did.
		if !s.notifyPending.Load() || !s.notifying.CompareAndSwap(false, true) {
			return
		}
	}
}

// Constraint names that carry meaning for callers.
const (
	constraintStreamVersion = "events_stream_id_version_key"
	constraintSKU           = "products_sku_key"
	constraintEmail         = "customers_email_key"
	constraintIdempotency   = "idempotency_keys_pkey"
)

// classify turns PostgreSQL failures that callers act on into app errors,
// keeping the original in the chain.
func classify(err error) error {
	if err != nil && unreachable(err) && !errors.Is(err, app.ErrUnavailable) {
		return fmt.Errorf("%w: %w", app.ErrUnavailable, err)
	}
	var pgErr *pgconn.PgError
	if err == nil || !errors.As(err, &pgErr) {
		return err
	}
	switch {
	case pgErr.Code == "23505" && pgErr.ConstraintName == constraintSKU:
		return fmt.Errorf("%w: %w", app.ErrDuplicateSKU, err)
	case pgErr.Code == "23505" && pgErr.ConstraintName == constraintEmail:
		return fmt.Errorf("%w: %w", app.ErrDuplicateEmail, err)
	case pgErr.Code == "23505" && (pgErr.ConstraintName == constraintStreamVersion || pgErr.ConstraintName == constraintIdempotency),
		pgErr.Code == "40001", pgErr.Code == "40P01": // serialization failure, deadlock: safe to re-run
		return fmt.Errorf("%w: %w", app.ErrConflict, err)
	}
	return err
}

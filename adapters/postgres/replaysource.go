package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/relay"
)

// FirstCreated implements projections.CreationLog. It walks the first events of the
// type's aggregates in commit order, on the commit-order index: a stream
// that begins where the log does stops it at once, and a trimmed one at the
// first aggregate of its shard.
func (s *Store) FirstCreated(ctx context.Context, aggregateType string, before relay.LogPosition, keep func(string) bool) (string, relay.LogPosition, bool, error) {
	const page = 100
	var after relay.LogPosition
	for {
		rows, err := s.pool.Query(ctx, `
			SELECT stream_id::text, tx_id::text, global_position FROM events
			 WHERE stream_type = $1 AND version = 1
			   AND (tx_id, global_position) > ($2::text::xid8, $3)
			   AND (tx_id, global_position) < ($4::text::xid8, $5)
			 ORDER BY tx_id, global_position
			 LIMIT $6`,
			aggregateType, strconv.FormatUint(after.TxID, 10), after.Position,
			strconv.FormatUint(before.TxID, 10), before.Position, page)
		if err != nil {
			return "", relay.LogPosition{}, false, readFailed("first aggregates", err)
		}
		n := 0
		var (
			id, tx string
			at     relay.LogPosition
			found  bool
		)
		_, err = pgx.ForEachRow(rows, []any{&id, &tx, &at.Position}, func() error {
			n++
			var perr error
			if at.TxID, perr = strconv.ParseUint(tx, 10, 64); perr != nil {
				return perr
			}
			after = at
			if keep(id) {
				found = true
				return errStopRows
			}
			return nil
		})
		switch {
		case found:
			return id, at, true, nil
		case err != nil:
			return "", relay.LogPosition{}, false, readFailed("first aggregates", err)
		case n < page:
			return "", relay.LogPosition{}, false, nil
		}
	}
}

// errStopRows ends a ForEachRow early.
var errStopRows = errors.New("stop")

// ReplaySource reads the event store for a replay when the streams were
// trimmed; it implements projections.ReplaySource.
type ReplaySource struct {
	store *Store
	// HeldBack, when set, is called when the last read has to wait for
	// transactions in flight, so an operator learns why a replay stalls.
	HeldBack func()
}

// NewReplaySource returns a source over store's log.
func NewReplaySource(store *Store) ReplaySource { return ReplaySource{store: store} }

// Name implements projections.ReplaySource.
func (ReplaySource) Name() string { return "event store" }

// Estimate counts the log's events.
func (s ReplaySource) Estimate(ctx context.Context) (int64, error) {
	var n int64
	err := s.store.pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n)
	return n, err
}

// Read returns up to limit events after the log position in cursor, in
// the relay's commit order and below the oldest transaction in flight (see
// Outbox.ReadCommitted). Reading by global position alone would step past
// the position of a transaction that commits later: its event would be
// skipped, and its aggregate's next event would look like a gap.
//
// That horizon is the server's, so any write transaction in flight, in any
// database, holds back events that committed after it started. The first
// read that finds nothing is therefore not the end: the source notes the
// next transaction id to be assigned, waits until every transaction of this
// database below it has ended, and from then on reads the rest below that
// id, whatever other databases still hold open. Everything
// committed before the catch-up is read; what commits later is the live
// projectors' to write into both generations. Capping the end is what lets
// a replay finish while writers keep committing.
func (s ReplaySource) Read(ctx context.Context, cursor string, limit int) ([]app.RecordedEvent, string, error) {
	after, end, err := parseStoreCursor(cursor)
	if err != nil {
		return nil, "", fmt.Errorf("replay cursor: %w", err)
	}
	outbox := NewOutbox(s.store.pool)
	if end == 0 {
		committed, err := outbox.ReadCommitted(ctx, after, limit)
		if err != nil {
			return nil, "", err
		}
		if len(committed) > 0 {
			return s.decode(committed, after, 0)
		}
		if end, err = s.awaitInFlight(ctx); err != nil {
			return nil, "", err
		}
	}
	committed, err := outbox.readCommitted(ctx, after, end, limit)
	if err != nil {
		return nil, "", err
	}
	return s.decode(committed, after, end)
}

func (s ReplaySource) decode(committed []relay.CommittedEvent, after relay.LogPosition, end uint64) ([]app.RecordedEvent, string, error) {
	events := make([]app.RecordedEvent, 0, len(committed))
	for _, e := range committed {
		r := e.RecordedEvent
		var err error
		if r.Event, err = s.store.codec.Decode(r.Type, r.SchemaVersion, e.Data); err != nil {
			return nil, "", fmt.Errorf("event %s: %w", r.EventID, err)
		}
		events = append(events, r)
		after = e.At
	}
	return events, storeCursor(after, end), nil
}

// awaitInFlight returns the next transaction id to be assigned once every
// transaction of this database below it has ended. Transactions of other
// databases on the same server cannot write this log, so they are not
// waited for: a long one there (another service, another test's database)
// would otherwise hold the replay back for as long as it runs.
func (s ReplaySource) awaitInFlight(ctx context.Context) (uint64, error) {
	var (
		next     string
		inFlight []string
	)
	if err := s.store.pool.QueryRow(ctx, `
		SELECT pg_snapshot_xmax(s)::text,
		       ARRAY(SELECT x::text FROM pg_snapshot_xip(s) x
		              WHERE xid(x) IN (SELECT backend_xid FROM pg_stat_activity
		                                WHERE datname = current_database() AND backend_xid IS NOT NULL)
		                 -- A session of another role is shown without its
		                 -- transaction id: then every transaction is waited for.
		                 OR EXISTS (SELECT FROM pg_stat_activity
		                             WHERE datname = current_database() AND query = '<insufficient privilege>'))
		  FROM pg_current_snapshot() s`).Scan(&next, &inFlight); err != nil {
		return 0, readFailed("replay horizon", err)
	}
	end, err := strconv.ParseUint(next, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("replay horizon %q: %w", next, err)
	}
	if len(inFlight) == 0 {
		return end, nil
	}
	if s.HeldBack != nil {
		s.HeldBack()
	}
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		var done bool
		if err := s.store.pool.QueryRow(ctx,
			`SELECT bool_and(pg_xact_status(x::xid8) IS DISTINCT FROM 'in progress') FROM unnest($1::text[]) x`,
			inFlight).Scan(&done); err != nil {
			return 0, readFailed("replay horizon", err)
		}
		if done {
			return end, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// A store cursor is a log position, then "<" and the transaction id the
// reads stop below once the replay caught up.
func storeCursor(after relay.LogPosition, end uint64) string {
	if end == 0 {
		return after.String()
	}
	return after.String() + "<" + strconv.FormatUint(end, 10)
}

func parseStoreCursor(cursor string) (relay.LogPosition, uint64, error) {
	pos, below, capped := strings.Cut(cursor, "<")
	after, err := relay.ParseLogPosition(pos)
	if err != nil || !capped {
		return after, 0, err
	}
	end, err := strconv.ParseUint(below, 10, 64)
	if err != nil || end == 0 {
		return after, 0, fmt.Errorf("%q: want position<transaction id", cursor)
	}
	return after, end, nil
}

package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/relay"
)

// Outbox reads the event log in commit order for the relay; it implements relay.Outbox.
type Outbox struct {
	pool  *pgxpool.Pool
	codec *app.EventCodec
}

// NewOutbox returns the outbox over pool.
func NewOutbox(pool *pgxpool.Pool) *Outbox {
	return &Outbox{pool: pool, codec: app.NewEventCodec()}
}

// ReadCommitted returns events after `after` whose transaction id is below
// the oldest transaction still in flight: every transaction below it has
// ended, so nothing can later commit before the last event returned.
func (o *Outbox) ReadCommitted(ctx context.Context, after relay.LogPosition, limit int) ([]relay.CommittedEvent, error) {
	return o.readCommitted(ctx, after, math.MaxUint64, limit)
}

// readCommitted is ReadCommitted of the transactions below the id below.
// A caller that passes a bound has waited for every transaction of this
// database below it to end, so the server-wide horizon no longer applies: a
// transaction left open in another database must not hide events from it.
func (o *Outbox) readCommitted(ctx context.Context, after relay.LogPosition, below uint64, limit int) ([]relay.CommittedEvent, error) {
	var bound *string
	if below != math.MaxUint64 {
		b := strconv.FormatUint(below, 10)
		bound = &b
	}
	rows, err := o.pool.Query(ctx, `
		SELECT e.tx_id::text::bigint AS tx, e.global_position, e.event_id::text, e.stream_type, e.stream_id::text, e.version,
		       e.event_type, e.schema_version, e.data, e.metadata, e.occurred_at
		  FROM events e
		 WHERE (e.tx_id, e.global_position) > ($1::text::xid8, $2)
		   AND e.tx_id < COALESCE($4::text::xid8, pg_snapshot_xmin(pg_current_snapshot()))
		 -- Qualified: a bare tx_id would name the bigint output column,
		 -- and sorting by it cannot use the (tx_id, global_position) index.
		 ORDER BY e.tx_id, e.global_position
		 LIMIT $3`, strconv.FormatUint(after.TxID, 10), after.Position, limit, bound)
	if err != nil {
		return nil, readFailed("outbox", err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (relay.CommittedEvent, error) {
		var (
			e  relay.CommittedEvent
			md []byte
			tx int64
		)
		if err := row.Scan(&tx, &e.GlobalPosition, &e.EventID, &e.AggregateType, &e.AggregateID, &e.Version,
			&e.Type, &e.SchemaVersion, &e.Data, &md, &e.OccurredAt); err != nil {
			return e, err
		}
		e.At = relay.LogPosition{TxID: uint64(tx), Position: e.GlobalPosition}
		e.OccurredAt = e.OccurredAt.UTC()
		if err := json.Unmarshal(md, &e.Metadata); err != nil {
			return e, fmt.Errorf("event %s metadata: %w", e.EventID, err)
		}
		return e, nil
	})
	if err != nil {
		return nil, readFailed("outbox", err)
	}
	return events, nil
}

// Holds reports whether p is the position of an event of the log whose
// transaction is below every transaction still to come, as a checkpoint
// must be; the zero position, the start of the log, always is. After a
// logical restore the counter restarts below the restored ids, so the
// checkpoint's event exists but is above the horizon.
func (o *Outbox) Holds(ctx context.Context, p relay.LogPosition) (bool, error) {
	if p == (relay.LogPosition{}) {
		return true, nil
	}
	var held bool
	err := o.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM events WHERE global_position = $2 AND tx_id = $1::text::xid8)
		   AND $1::text::xid8 < pg_snapshot_xmin(pg_current_snapshot())`,
		strconv.FormatUint(p.TxID, 10), p.Position).Scan(&held)
	if err != nil {
		return false, readFailed("outbox checkpoint", err)
	}
	return held, nil
}

// BacklogCap bounds the backlog count so that measuring a huge backlog stays cheap.
const BacklogCap = 1_000_000

// Stats measures the backlog after cp and the oldest transaction in flight.
func (o *Outbox) Stats(ctx context.Context, cp relay.LogPosition) (relay.Backlog, error) {
	var (
		s      relay.Backlog
		oldest *time.Time
		secs   float64
	)
	err := o.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM (
		          SELECT 1 FROM events
		           WHERE (tx_id, global_position) > ($1::text::xid8, $2)
		             AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
		           LIMIT $3) b),
		       (SELECT min(occurred_at) FROM (
		          SELECT occurred_at FROM events
		           WHERE (tx_id, global_position) > ($1::text::xid8, $2)
		             AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
		           ORDER BY tx_id, global_position LIMIT 1) o),
		       COALESCE((SELECT extract(epoch FROM max(now() - xact_start))::float8
		          FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()), 0)`,
		strconv.FormatUint(cp.TxID, 10), cp.Position, BacklogCap).Scan(&s.Backlog, &oldest, &secs)
	if err != nil {
		return s, readFailed("outbox stats", err)
	}
	if oldest != nil {
		s.OldestUnpublished = oldest.UTC()
	}
	s.OldestInFlight = time.Duration(secs * float64(time.Second))
	return s, nil
}

// RelayLock is the relay lock of one database: the elector of
// relay.(*Relay).RunAsLeader.
type RelayLock struct{ dsn string }

// NewRelayLock returns the relay lock of the database at dsn.
func NewRelayLock(dsn string) RelayLock { return RelayLock{dsn: dsn} }

// TryLead takes the lock on a connection of its own if it is free; it
// returns nil without error when another relay holds it.
func (l RelayLock) TryLead(ctx context.Context) (relay.Leadership, error) {
	lead, err := TryLead(ctx, l.dsn)
	if lead == nil {
		return nil, err // not a typed nil: RunAsLeader tests for nil
	}
	return lead, err
}

// Leadership is a dedicated connection holding the relay's advisory lock and
// listening for appended events. Only its holder relays; the lock dies with
// the connection, so a standby takes over when the holder's process dies.
type Leadership struct {
	conn *pgx.Conn
}

// relayLockKey is the advisory lock key of the active relay ("orderflo").
const relayLockKey int64 = 0x6f72646572666c6f

// TryLead connects to dsn and takes the relay lock if it is free. It returns
// nil without error when another relay holds it.
func TryLead(ctx context.Context, dsn string) (*Leadership, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, readFailed("leadership connection", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, relayLockKey).Scan(&got); err != nil {
		_ = conn.Close(ctx)
		return nil, readFailed("relay lock", err)
	}
	if !got {
		_ = conn.Close(ctx)
		return nil, nil
	}
	if _, err := conn.Exec(ctx, `LISTEN `+EventsChannel); err != nil {
		_ = conn.Close(ctx)
		return nil, readFailed("listen", err)
	}
	return &Leadership{conn: conn}, nil
}

// Wait blocks until an appending transaction notifies, timeout passes, or
// the connection (and with it the lock) is lost. It fits relay.Wait.
func (l *Leadership) Wait(ctx context.Context, timeout time.Duration) (bool, error) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := l.conn.WaitForNotification(wctx)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		// A timeout leaves the connection usable; make sure it still is.
		if l.conn.IsClosed() {
			return false, errors.New("leadership connection closed")
		}
		return false, nil
	default:
		return false, fmt.Errorf("leadership connection: %w", err)
	}
}

// Release gives the lock up by closing the connection.
func (l *Leadership) Release(ctx context.Context) error { return l.conn.Close(ctx) }

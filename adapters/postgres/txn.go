package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/domain"
)

// txn is one command's transaction; it implements app.Tx.
type txn struct {
	reads
	tx    pgx.Tx
	store *Store
	// appended is set once Save wrote events, so the relay is woken after commit.
	appended bool
	// staleSnapshots are the streams loaded past a snapshot of another state
	// schema; Save replaces their snapshot whatever the interval.
	staleSnapshots map[string]bool
}

// stream is an aggregate's stored history: its snapshot, if any, and the
// events after it.
type stream struct {
	snapshot        []byte
	snapshotVersion int64
	events          []domain.Event
}

// streamsQuery reads, for every id of $1, its snapshot and the events after
// it, snapshot first. A snapshot of another state schema than $2 is
// returned (so the caller knows to replace it) but not used: every event of
// its stream is read instead. Each stream is read by its own index lookups: the
// LATERAL subqueries are fenced with OFFSET 0 so the planner cannot flatten
// them into a join that scans the whole events table (which it did with a
// generic plan for the prepared statement).
const streamsQuery = `
	SELECT ids.id::text, x.event_type, x.schema_version, x.data, x.version
	  FROM unnest($1::uuid[]) AS ids(id)
	  LEFT JOIN LATERAL (SELECT version, state, schema_version FROM snapshots WHERE stream_id = ids.id OFFSET 0) s ON true
	  JOIN LATERAL (
	       SELECT NULL::text AS event_type, s.schema_version AS schema_version, s.state AS data, s.version AS version
	        WHERE s.version IS NOT NULL
	       UNION ALL
	       (SELECT event_type, schema_version, data, version FROM events
	         WHERE stream_id = ids.id
	           AND version > CASE WHEN s.schema_version = $2 THEN s.version ELSE 0 END OFFSET 0)) x ON true
	ORDER BY 1, 5`

// loadStreams reads the snapshot of state schema stateSchema and the events
// after it of every id, in one round trip. Ids without any event are absent
// from the result.
func (t *txn) loadStreams(ctx context.Context, ids []string, stateSchema int) (map[string]*stream, error) {
	rows, err := t.tx.Query(ctx, streamsQuery, ids, stateSchema)
	if err != nil {
		return nil, fmt.Errorf("load streams: %w", err)
	}
	return t.scanStreams(rows, len(ids), stateSchema)
}

func (t *txn) scanStreams(rows pgx.Rows, n, stateSchema int) (map[string]*stream, error) {
	defer rows.Close()
	streams := make(map[string]*stream, n)
	for rows.Next() {
		var (
			sid, eventType *string
			data           []byte
			schemaVersion  int
			version        int64
		)
		if err := rows.Scan(&sid, &eventType, &schemaVersion, &data, &version); err != nil {
			return nil, fmt.Errorf("scan stream: %w", err)
		}
		st := streams[*sid]
		if st == nil {
			st = &stream{}
			streams[*sid] = st
		}
		if eventType == nil {
			if schemaVersion != stateSchema {
				t.markStale(*sid)
				continue
			}
			st.snapshot, st.snapshotVersion = data, version
			continue
		}
		e, err := t.store.codec.Decode(*eventType, schemaVersion, data)
		if err != nil {
			return nil, fmt.Errorf("stream %s version %d: %w", *sid, version, err)
		}
		st.events = append(st.events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load streams: %w", err)
	}
	return streams, nil
}

// markStale remembers that id's snapshot holds another state schema.
func (t *txn) markStale(id string) {
	if t.staleSnapshots == nil {
		t.staleSnapshots = make(map[string]bool)
	}
	t.staleSnapshots[id] = true
}

// aggregateLockKey is the transaction-scoped advisory lock that serialises
// the writers of one aggregate.
//
// Advisory locks, unlike SELECT … FOR UPDATE, assign no transaction id. A
// command's transaction therefore gets its id only at its first write, in
// Save, after it holds every lock it needs; so for any aggregate the writer
// of version v+1 has a larger transaction id than the writer of version v,
// and the relay's (tx_id, global_position) order keeps every aggregate's
// versions in order. Nothing may write before the last lock is taken.
func aggregateLockKey(aggregateType, id string) int64 {
	h := fnv.New64a()
	h.Write([]byte(aggregateType))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return int64(h.Sum64())
}

// LoadProducts locks the products in id order, then loads them.
func (t *txn) LoadProducts(ctx context.Context, ids ...string) (map[string]*domain.Product, error) {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	// One round trip: the locks in id order, then the streams. Under READ
	// COMMITTED each statement takes its own snapshot, so the streams are
	// read after the lock waits ended and include the previous holder's
	// commit.
	batch := &pgx.Batch{}
	for _, id := range sorted {
		batch.Queue(`SELECT pg_advisory_xact_lock($1)`, aggregateLockKey(domain.ProductAggregate, id))
	}
	batch.Queue(streamsQuery, sorted, domain.ProductStateSchema)
	results := t.tx.SendBatch(ctx, batch)
	for range sorted {
		if _, err := results.Exec(); err != nil {
			_ = results.Close()
			return nil, fmt.Errorf("lock products: %w", err)
		}
	}
	rows, err := results.Query()
	if err != nil {
		_ = results.Close()
		return nil, fmt.Errorf("load products: %w", err)
	}
	streams, err := t.scanStreams(rows, len(sorted), domain.ProductStateSchema)
	if closeErr := results.Close(); err == nil && closeErr != nil {
		err = fmt.Errorf("load products: %w", closeErr)
	}
	if err != nil {
		return nil, err
	}
	products := make(map[string]*domain.Product, len(sorted))
	for _, id := range sorted {
		st := streams[id]
		if st == nil {
			return nil, &app.NotFoundError{Kind: "product", ID: id}
		}
		var base *domain.Product
		if st.snapshot != nil {
			var s domain.ProductState
			if err := json.Unmarshal(st.snapshot, &s); err != nil {
				return nil, fmt.Errorf("product %s snapshot: %w", id, err)
			}
			base = domain.RestoreProduct(id, st.snapshotVersion, s)
		}
		products[id] = domain.LoadProduct(id, base, st.events)
	}
	return products, nil
}

// LoadCustomer loads a customer without locking it.
func (t *txn) LoadCustomer(ctx context.Context, id string) (*domain.Customer, error) {
	st, err := t.loadOne(ctx, "customer", id, domain.CustomerStateSchema)
	if err != nil {
		return nil, err
	}
	var base *domain.Customer
	if st.snapshot != nil {
		var s domain.CustomerState
		if err := json.Unmarshal(st.snapshot, &s); err != nil {
			return nil, fmt.Errorf("customer %s snapshot: %w", id, err)
		}
		base = domain.RestoreCustomer(id, st.snapshotVersion, s)
	}
	return domain.LoadCustomer(id, base, st.events), nil
}

// LoadOrder locks the order's row, then loads it.
func (t *txn) LoadOrder(ctx context.Context, id string) (*domain.Order, error) {
	if _, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, aggregateLockKey(domain.OrderAggregate, id)); err != nil {
		return nil, fmt.Errorf("lock order: %w", err)
	}
	st, err := t.loadOne(ctx, "order", id, domain.OrderStateSchema)
	if err != nil {
		return nil, err
	}
	var base *domain.Order
	if st.snapshot != nil {
		var s domain.OrderState
		if err := json.Unmarshal(st.snapshot, &s); err != nil {
			return nil, fmt.Errorf("order %s snapshot: %w", id, err)
		}
		base = domain.RestoreOrder(id, st.snapshotVersion, s)
	}
	return domain.LoadOrder(id, base, st.events), nil
}

func (t *txn) loadOne(ctx context.Context, kind, id string, stateSchema int) (*stream, error) {
	streams, err := t.loadStreams(ctx, []string{id}, stateSchema)
	if err != nil {
		return nil, err
	}
	st := streams[id]
	if st == nil {
		return nil, &app.NotFoundError{Kind: kind, ID: id}
	}
	return st, nil
}

// Save appends every aggregate's pending events, snapshots streams that
// crossed the snapshot interval and updates the read tables, all in one
// round trip; the relay is notified after commit. A stale expected version fails on the
// (stream_id, version) key and rolls the whole transaction back.
func (t *txn) Save(ctx context.Context, aggregates ...domain.Aggregate) (app.Written, error) {
	var written app.Written
	md := app.MetadataFrom(ctx)
	mdJSON, err := json.Marshal(md)
	if err != nil {
		return written, fmt.Errorf("encode metadata: %w", err)
	}
	now := t.store.Now().UTC().Truncate(time.Microsecond)
	written.At = now
	var rows eventRows
	batch := &pgx.Batch{} // the read-table changes, snapshots and notification
	for _, agg := range aggregates {
		changes := agg.Changes()
		if len(changes) == 0 {
			continue
		}
		version := domain.ExpectedVersion(agg)
		for _, e := range changes {
			version++
			name, schema, data, err := t.store.codec.Encode(e)
			if err != nil {
				return written, err
			}
			rows.add(uuid.Must(uuid.NewV7()).String(), agg.AggregateType(), agg.AggregateID(), version, name, schema, string(data))
			project(batch, app.RecordedEvent{
				AggregateType: agg.AggregateType(), AggregateID: agg.AggregateID(), Version: version,
				Type: name, SchemaVersion: schema, OccurredAt: now, Metadata: md, Event: e,
			}, &written)
		}
		// A stream read past a stale snapshot gets a fresh one at once, so
		// the next load is cheap again.
		if every := t.store.SnapshotEvery; every > 0 &&
			(agg.Version()/every > domain.ExpectedVersion(agg)/every || t.staleSnapshots[agg.AggregateID()]) {
			schema, state, err := snapshotState(agg)
			if err != nil {
				return written, err
			}
			batch.Queue(`INSERT INTO snapshots (stream_id, stream_type, version, state, schema_version, taken_at) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, state = EXCLUDED.state,
				       schema_version = EXCLUDED.schema_version, taken_at = EXCLUDED.taken_at`,
				agg.AggregateID(), agg.AggregateType(), agg.Version(), state, schema, now)
		}
	}
	if len(rows.ids) == 0 {
		return written, nil
	}
	// All events in one multi-row insert, first, so a stale version fails
	// before any read-table work; then the rest of the batch.
	all := &pgx.Batch{}
	all.Queue(`INSERT INTO events (event_id, stream_type, stream_id, version, event_type, schema_version, data, metadata, occurred_at)
		SELECT e.*, $8::jsonb, $9::timestamptz
		  FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::bigint[], $5::text[], $6::int[], $7::jsonb[]) AS e`,
		rows.ids, rows.streamTypes, rows.streamIDs, rows.versions, rows.types, rows.schemas, rows.data, string(mdJSON), now)
	all.QueuedQueries = append(all.QueuedQueries, batch.QueuedQueries...)
	if err := t.tx.SendBatch(ctx, all).Close(); err != nil {
		return written, fmt.Errorf("append events: %w", err)
	}
	for _, agg := range aggregates {
		agg.MarkSaved()
	}
	t.appended = true
	return written, nil
}

// eventRows are a Save's events as columns, for one multi-row insert.
type eventRows struct {
	ids, streamTypes, streamIDs, types, data []string
	versions                                 []int64
	schemas                                  []int32
}

func (r *eventRows) add(id, streamType, streamID string, version int64, eventType string, schema int, data string) {
	r.ids = append(r.ids, id)
	r.streamTypes = append(r.streamTypes, streamType)
	r.streamIDs = append(r.streamIDs, streamID)
	r.versions = append(r.versions, version)
	r.types = append(r.types, eventType)
	r.schemas = append(r.schemas, int32(schema))
	r.data = append(r.data, data)
}

// snapshotState returns the aggregate's state schema and state, encoded.
func snapshotState(agg domain.Aggregate) (int, []byte, error) {
	var (
		state  any
		schema int
	)
	switch a := agg.(type) {
	case *domain.Product:
		state, schema = a.State(), domain.ProductStateSchema
	case *domain.Customer:
		state, schema = a.State(), domain.CustomerStateSchema
	case *domain.Order:
		state, schema = a.State(), domain.OrderStateSchema
	default:
		return 0, nil, fmt.Errorf("snapshot: unknown aggregate %T", agg)
	}
	data, err := json.Marshal(state)
	return schema, data, err
}

// IdempotencyTTL is how long an idempotency key is remembered.
const IdempotencyTTL = 24 * time.Hour

// ClaimIdempotencyKey takes a transaction-scoped advisory lock on the key, so
// a concurrent request with the same key is told it is in flight instead of
// waiting, then looks for an earlier answer.
func (t *txn) ClaimIdempotencyKey(ctx context.Context, key app.IdempotencyKey) (*app.Order, error) {
	var locked bool
	err := t.tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 0))`, key.Scope, key.Key).Scan(&locked)
	if err != nil {
		return nil, fmt.Errorf("lock idempotency key: %w", err)
	}
	if !locked {
		return nil, app.ErrIdempotencyInFlight
	}
	var (
		hash     string
		response []byte
		created  time.Time
	)
	err = t.tx.QueryRow(ctx, `SELECT request_hash, response, created_at FROM idempotency_keys WHERE scope = $1 AND key = $2`,
		key.Scope, key.Key).Scan(&hash, &response, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	if t.store.Now().Sub(created) > IdempotencyTTL {
		// Expired: as if absent. RememberIdempotentOrder replaces the row;
		// deleting it here would write before the locks (see aggregateLockKey).
		return nil, nil
	}
	if hash != key.RequestHash {
		return nil, app.ErrIdempotencyKeyReused
	}
	var order app.Order
	if err := json.Unmarshal(response, &order); err != nil {
		return nil, fmt.Errorf("decode idempotent answer: %w", err)
	}
	return &order, nil
}

// RememberIdempotentOrder stores the answer to a claimed key.
func (t *txn) RememberIdempotentOrder(ctx context.Context, key app.IdempotencyKey, order app.Order) error {
	body, err := json.Marshal(order)
	if err != nil {
		return fmt.Errorf("encode idempotent answer: %w", err)
	}
	now := t.store.Now().UTC()
	tag, err := t.tx.Exec(ctx, `
		INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response, created_at) VALUES ($1, $2, $3, 201, $4, $5)
		ON CONFLICT (scope, key) DO UPDATE
		   SET request_hash = EXCLUDED.request_hash, status_code = 201, response = EXCLUDED.response, created_at = EXCLUDED.created_at
		 WHERE idempotency_keys.created_at < $6`,
		key.Scope, key.Key, key.RequestHash, body, now, now.Add(-IdempotencyTTL))
	if err != nil {
		return fmt.Errorf("remember idempotency key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		// A live row appeared since the claim: re-run, and replay it.
		return fmt.Errorf("remember idempotency key: %w", app.ErrConflict)
	}
	return nil
}

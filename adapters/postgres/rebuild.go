package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/app"
)

// RebuildReadTables folds the store's whole log, in global order, into the
// read tables of dst, which must be freshly migrated and empty. It runs the
// same projection as the appending transactions, so equal tables prove the
// live ones agree with the log. It reads and writes in bounded batches.
func (s *Store) RebuildReadTables(ctx context.Context, dst *pgxpool.Pool, batchSize int) (events int64, err error) {
	var after int64
	for {
		page, last, err := s.readLog(ctx, after, batchSize)
		if err != nil {
			return events, err
		}
		if len(page) == 0 {
			return events, nil
		}
		batch := &pgx.Batch{}
		for _, r := range page {
			project(batch, r, nil)
		}
		if err := pgx.BeginTxFunc(ctx, dst, pgx.TxOptions{}, func(tx pgx.Tx) error {
			return tx.SendBatch(ctx, batch).Close()
		}); err != nil {
			return events, fmt.Errorf("rebuild after position %d: %w", after, err)
		}
		events += int64(len(page))
		after = last
	}
}

// readLog returns up to limit events after the given global position.
func (s *Store) readLog(ctx context.Context, after int64, limit int) ([]app.RecordedEvent, int64, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT event_id::text, stream_type, stream_id::text, version, global_position, event_type, schema_version, data, metadata, occurred_at
		  FROM events WHERE global_position > $1 ORDER BY global_position LIMIT $2`, after, limit)
	if err != nil {
		return nil, after, fmt.Errorf("read log: %w", err)
	}
	var last = after
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.RecordedEvent, error) {
		var (
			r        app.RecordedEvent
			data, md []byte
			at       time.Time
		)
		if err := row.Scan(&r.EventID, &r.AggregateType, &r.AggregateID, &r.Version, &r.GlobalPosition, &r.Type, &r.SchemaVersion, &data, &md, &at); err != nil {
			return r, err
		}
		r.OccurredAt = at.UTC()
		if err := json.Unmarshal(md, &r.Metadata); err != nil {
			return r, fmt.Errorf("event %s metadata: %w", r.EventID, err)
		}
		e, err := s.codec.Decode(r.Type, r.SchemaVersion, data)
		if err != nil {
			return r, fmt.Errorf("event %s: %w", r.EventID, err)
		}
		r.Event = e
		last = r.GlobalPosition
		return r, nil
	})
	if err != nil {
		return nil, after, fmt.Errorf("read log: %w", err)
	}
	return out, last, nil
}

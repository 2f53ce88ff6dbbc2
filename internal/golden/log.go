package golden

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/adapters/postgres"
)

// Event is one row of the events table as stored. tx_id is left out: it
// is the writing server's transaction counter, meaningless on another
// server (copied, it could hold the rows back from the relay for good), so
// Load lets the database assign its own.
type Event struct {
	GlobalPosition int64           `json:"globalPosition"`
	EventID        string          `json:"eventId"`
	StreamType     string          `json:"streamType"`
	StreamID       string          `json:"streamId"`
	Version        int64           `json:"version"`
	EventType      string          `json:"eventType"`
	SchemaVersion  int             `json:"schemaVersion"`
	Data           json.RawMessage `json:"data"`
	Metadata       json.RawMessage `json:"metadata"`
	OccurredAt     time.Time       `json:"occurredAt"`
}

// Snapshot is one row of the snapshots table as stored.
type Snapshot struct {
	StreamID   string          `json:"streamId"`
	StreamType string          `json:"streamType"`
	Version    int64           `json:"version"`
	State      json.RawMessage `json:"state"`
	TakenAt    time.Time       `json:"takenAt"`
}

// Log is a whole stored log: the events in global order and the snapshots
// in stream id order.
type Log struct {
	Events    []Event
	Snapshots []Snapshot
}

// The files of a golden log directory.
const (
	EventsFile    = "events.jsonl"
	SnapshotsFile = "snapshots.jsonl"
)

// ReadLog reads the log of a golden directory.
func ReadLog(dir string) (Log, error) {
	var l Log
	var err error
	if l.Events, err = readJSONL[Event](filepath.Join(dir, EventsFile)); err != nil {
		return l, err
	}
	if l.Snapshots, err = readJSONL[Snapshot](filepath.Join(dir, SnapshotsFile)); err != nil {
		return l, err
	}
	return l, nil
}

// WriteLog writes l into dir, one row a line, so a change to the golden
// log shows in a diff row by row.
func WriteLog(dir string, l Log) error {
	if err := writeJSONL(filepath.Join(dir, EventsFile), l.Events); err != nil {
		return err
	}
	return writeJSONL(filepath.Join(dir, SnapshotsFile), l.Snapshots)
}

func readJSONL[T any](path string) ([]T, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("golden log: %w", err)
	}
	var out []T
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var v T
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("golden log %s line %d: %w", path, line, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("golden log %s: %w", path, err)
	}
	return out, nil
}

func writeJSONL[T any](path string, rows []T) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // payloads as stored, < > & included
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("golden log %s: %w", path, err)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("golden log: %w", err)
	}
	return nil
}

// Dump reads the whole stored log of the database behind pool. Payloads
// are the JSONB values as PostgreSQL holds them (its key order), compacted.
func Dump(ctx context.Context, pool *pgxpool.Pool) (Log, error) {
	var l Log
	rows, err := pool.Query(ctx, `
		SELECT global_position, event_id::text, stream_type, stream_id::text, version, event_type, schema_version,
		       data::text, metadata::text, occurred_at
		  FROM events ORDER BY global_position`)
	if err != nil {
		return l, fmt.Errorf("dump events: %w", err)
	}
	l.Events, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Event, error) {
		var (
			e        Event
			data, md string
		)
		if err := row.Scan(&e.GlobalPosition, &e.EventID, &e.StreamType, &e.StreamID, &e.Version, &e.EventType,
			&e.SchemaVersion, &data, &md, &e.OccurredAt); err != nil {
			return e, err
		}
		e.OccurredAt = e.OccurredAt.UTC()
		if e.Data, err = compact(data); err != nil {
			return e, fmt.Errorf("event %s data: %w", e.EventID, err)
		}
		if e.Metadata, err = compact(md); err != nil {
			return e, fmt.Errorf("event %s metadata: %w", e.EventID, err)
		}
		return e, nil
	})
	if err != nil {
		return l, fmt.Errorf("dump events: %w", err)
	}
	rows, err = pool.Query(ctx, `
		SELECT stream_id::text, stream_type, version, state::text, taken_at FROM snapshots ORDER BY stream_id`)
	if err != nil {
		return l, fmt.Errorf("dump snapshots: %w", err)
	}
	l.Snapshots, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Snapshot, error) {
		var (
			s     Snapshot
			state string
		)
		if err := row.Scan(&s.StreamID, &s.StreamType, &s.Version, &state, &s.TakenAt); err != nil {
			return s, err
		}
		s.TakenAt = s.TakenAt.UTC()
		if s.State, err = compact(state); err != nil {
			return s, fmt.Errorf("snapshot %s: %w", s.StreamID, err)
		}
		return s, nil
	})
	if err != nil {
		return l, fmt.Errorf("dump snapshots: %w", err)
	}
	return l, nil
}

func compact(s string) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ErrNotEmpty means Load was given a database that already holds events.
var ErrNotEmpty = errors.New("golden: the database already holds events")

// Load inserts l into the empty, migrated database behind pool exactly as
// it was stored: the same global positions, ids, versions, schema versions,
// payloads, metadata and times, in one transaction, without decoding a
// payload; the global position then continues after the log's last. It
// then rebuilds the read tables from the log with
// postgres.Store.RebuildReadTables, which folds every event through the
// projection the appending transactions run, as a command would have left
// them. It returns how many events the rebuild folded.
func Load(ctx context.Context, pool *pgxpool.Pool, l Log) (int64, error) {
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w (%d)", ErrNotEmpty, n)
		}
		var (
			positions, versions                          []int64
			ids, streamTypes, streamIDs, types, data, md []string
			schemas                                      []int32
			times                                        []time.Time
		)
		for _, e := range l.Events {
			positions, ids, streamTypes, streamIDs = append(positions, e.GlobalPosition), append(ids, e.EventID), append(streamTypes, e.StreamType), append(streamIDs, e.StreamID)
			versions, types, schemas = append(versions, e.Version), append(types, e.EventType), append(schemas, int32(e.SchemaVersion))
			data, md, times = append(data, string(e.Data)), append(md, string(e.Metadata)), append(times, e.OccurredAt)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO events (global_position, event_id, stream_type, stream_id, version, event_type, schema_version, data, metadata, occurred_at)
			OVERRIDING SYSTEM VALUE
			SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::uuid[], $5::bigint[], $6::text[], $7::int[], $8::jsonb[], $9::jsonb[], $10::timestamptz[])`,
			positions, ids, streamTypes, streamIDs, versions, types, schemas, data, md, times); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		if len(l.Events) > 0 {
			if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('events', 'global_position'), (SELECT max(global_position) FROM events))`); err != nil {
				return fmt.Errorf("continue global positions: %w", err)
			}
		}
		for _, s := range l.Snapshots {
			if _, err := tx.Exec(ctx, `INSERT INTO snapshots (stream_id, stream_type, version, state, taken_at) VALUES ($1, $2, $3, $4::text::jsonb, $5)`,
				s.StreamID, s.StreamType, s.Version, string(s.State), s.TakenAt); err != nil {
				return fmt.Errorf("insert snapshot %s: %w", s.StreamID, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("golden: load: %w", err)
	}
	n, err := postgres.NewStore(pool).RebuildReadTables(ctx, pool, 500)
	if err != nil {
		return n, fmt.Errorf("golden: rebuild read tables: %w", err)
	}
	return n, nil
}

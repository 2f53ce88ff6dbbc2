package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SchemaCount is how many events of one type the log holds at one schema
// version.
type SchemaCount struct {
	Type          string
	SchemaVersion int
	Events        int64
}

// SchemaCounts counts the log's events per type and schema version, in
// type then version order: an operator retires an upcaster once no event
// of the version it reads is left. It scans the whole log, so it is an
// operator's command, not a metric.
func (s *Store) SchemaCounts(ctx context.Context) ([]SchemaCount, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT event_type, schema_version, count(*) FROM events
		 GROUP BY event_type, schema_version ORDER BY event_type, schema_version`)
	if err != nil {
		return nil, fmt.Errorf("count event schemas: %w", err)
	}
	counts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SchemaCount, error) {
		var c SchemaCount
		err := row.Scan(&c.Type, &c.SchemaVersion, &c.Events)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("count event schemas: %w", err)
	}
	return counts, nil
}

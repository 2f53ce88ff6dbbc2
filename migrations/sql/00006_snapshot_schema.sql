-- +goose Up
-- The schema of the state a snapshot holds: a snapshot of a state shape the
-- running build does not read is ignored and the aggregate is folded from its
-- events (see docs/adr/0014-event-schema-evolution.md). Every snapshot taken
-- before this column existed holds schema 1.
ALTER TABLE snapshots ADD COLUMN schema_version integer NOT NULL DEFAULT 1 CHECK (schema_version > 0);

-- +goose Down
ALTER TABLE snapshots DROP COLUMN schema_version;

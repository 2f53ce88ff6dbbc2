-- +goose Up
-- The event log is also the outbox: the relay reads it by transaction id
-- (tx_id) below the oldest in-flight transaction, so no second table is needed.
CREATE TABLE events (
    global_position bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream_type     text        NOT NULL,
    stream_id       uuid        NOT NULL,
    version         bigint      NOT NULL CHECK (version > 0),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL CHECK (schema_version > 0),
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    occurred_at     timestamptz NOT NULL,
    tx_id           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    UNIQUE (stream_id, version)
);
CREATE INDEX events_commit_order ON events (tx_id, global_position);

-- One snapshot per stream, replaced as the stream grows, so loading an
-- aggregate folds at most a snapshot interval of events.
CREATE TABLE snapshots (
    stream_id   uuid        PRIMARY KEY,
    stream_type text        NOT NULL,
    version     bigint      NOT NULL,
    state       jsonb       NOT NULL,
    taken_at    timestamptz NOT NULL
);

-- +goose Down
DROP TABLE snapshots;
DROP TABLE events;

// Package postgres is OrderFlow's event store and read model on PostgreSQL
// (pgx v5, no ORM). One transaction appends a command's events at their
// expected versions, keeps snapshots, updates the read tables and notifies
// the relay; the events table doubles as the outbox, read in commit order by
// its xid8 column. The log is also a replay source (replaysource.go) when
// the streams no longer hold all of it.
package postgres

// Package golden keeps event logs written by earlier builds, so that every
// later build is tested against them: an event-sourced system lives as long
// as its oldest event, and a change of an event's shape must leave old logs
// reading exactly as they did.
//
// A golden log is a directory under testdata/ (golden-v1 is the log of
// schema version 1, made before any event changed shape) holding the
// events and snapshots rows exactly as PostgreSQL stored them
// (events.jsonl, snapshots.jsonl) and what the build that wrote them read
// from them: every aggregate as the store loaded it (aggregates.json),
// every query's answer (readmodels.json) and every cached projection
// (projections.json). testdata/golden-v1/README.md says how it was made.
//
// Load puts a golden log into an empty migrated database as it was
// stored, bypassing the event codec (the log is never rewritten), and
// rebuilds the read tables from it through the same projection the
// appending transactions run; Dump reads a database's log back in the
// same form. TestGoldenV1LogStaysCorrect checks that today's build reads
// the golden log as the build that wrote it did. Regenerating a golden log
// is a deliberate, manual step (its README gives the command); CI never
// does it.
package golden

// Package testenv is OrderFlow's one test kit: what the integration tests
// of every package, the system tests and the tests of each binary share,
// so that no package wires its own.
//
//   - Services: the PostgreSQL and Redis that scripts/test.sh started
//     (through adapters/postgres/pgtest and adapters/redis/redistest, which
//     stay beside the adapters they serve: each gives one fresh database or
//     key prefix per test and is all an adapter's own tests need).
//   - New wires an Env over them: pool, store, Redis client and keyspace,
//     the cache engine and the Application, each optional; Settings are the
//     ORDERFLOW_ variables that point a binary at the same database and keys.
//   - RelayAll publishes every committed event onto the streams in-process,
//     as the relay does; Committed reads them back from the outbox, decoded,
//     for a test that feeds them to a projector itself; WaitFor polls a
//     condition until a deadline.
//   - Binaries builds the three binaries once per test binary (with the race
//     detector when the tests run with it); StartProcess runs one through the
//     runner of internal/testenv/process (shared with orderflow-bench) and
//     stops it on cleanup, failing the test on an unclean exit or a data race.
//   - LogSink collects a process's or a server's log for a test to read;
//     Scrape and MetricSum read a Prometheus page.
//   - internal/testenv/faultproxy is the TCP proxy a test cuts to take a
//     dependency away.
//
// A missing server fails the test; nothing here skips.
package testenv

// Package systemtest runs OrderFlow as it runs in production, for tests
// that kill things: the three binaries as real processes against a real
// PostgreSQL and Redis, under a steady mixed load through the API, and the
// checks that say afterwards whether anything was lost.
//
// The pieces, in the order a test uses them:
//
//   - The binaries come from internal/testenv (Binaries, built once per
//     test binary) and run through internal/testenv/process, the process
//     runner orderflow-bench uses too: a Process starts, Kill()s (SIGKILL),
//     Stop()s (SIGTERM) and Restart()s a binary on the same address, waits
//     for /readyz (WaitReady), captures its output in LogDir/<name>.log
//     (Tail, Raced for the race detector).
//   - System holds what the processes share (binaries, database URL, Redis
//     URL, key prefix, log directory, extra ORDERFLOW_ settings).
//     NewAPI, NewRelay and NewProjector prepare a Process on a free loopback
//     port with the JWT secret set and the rate limiter off; AdminToken mints
//     an admin bearer token; Verify runs `orderflow-projector verify`.
//   - RedisServer is a redis-server run by the harness itself, with AOF
//     everysec or no persistence, restartable with or without its data.
//     Postgres kills a scripts/services.sh PostgreSQL with SIGKILL (postmaster
//     and backends) and starts it again keeping its data.
//   - Client alternates requests between API instances, sends the admin token
//     and counts answers by status in Stats; Snapshot and Window give the
//     requests per second and the errors of a span of time.
//   - Load is the mixed load (products created, restocked and repriced,
//     customers registered, orders placed, paid and cancelled, reads); it
//     retries a placement with its Idempotency-Key after a lost answer or a
//     5xx (LostAnswers abandons a share of first attempts on purpose, so a
//     committed order whose answer was lost is retried) and remembers every
//     acknowledged write (Acknowledged); Resolve settles placements that
//     never got a definite answer.
//   - Checker compares: every committed event in its stream once and in
//     order (Streams), the relay's checkpoint and the consumer group caught
//     up, stock = initial + restocked − reserved + released for every product
//     (Stock), acknowledged orders present exactly once and no others
//     (Orders), acknowledged products, customers and restocks present
//     (Acknowledged). Converge polls the first three and `verify` until they
//     hold.
//
// The package's own tests are the replicated topology test (run by make
// test) and, behind the build tag "faults", the fault suite (make faults).
package systemtest

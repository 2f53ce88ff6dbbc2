// Package relay moves committed events from the outbox (the event log) onto
// the streams, in commit order, none lost: the relay loop, the log
// positions that order it, leadership (only the holder of the relay lock
// relays; RunAsLeader stands by otherwise) and backlog sampling. Its ports
// are implemented by adapters/postgres (outbox, lock) and adapters/streams
// (publisher); app/relay/mock holds in-memory fakes of them for unit tests.
package relay

// Package projections keeps the cached read models equal to the log. The
// projectors turn each event into rewrites of the read models the effects
// table (app/effects) says it changes (and the eviction of a product's stock
// entry); every write goes through the fenced
// cache, so duplicates, claims and reordering change nothing, and errors go
// back to the Router (adapters/streams, retry, then the dead-letter stream).
// Replay rebuilds every read model into a new key generation from the
// streams or the event store (ReplayFrom chooses), and Verify compares the
// cache with the read tables. projections/mock holds fakes of its ports.
package projections

// Package domain holds OrderFlow's aggregates (Product, Customer, Order), the
// events they emit and the invariants they keep. It is pure Go: no I/O, no
// clock, no encoding, nothing of the project's outer layers.
//
// An aggregate is rebuilt by applying its events in order; a decision method
// checks the invariants and records new events, which are applied at once and
// kept as pending changes until the caller persists them. Nothing is recorded
// when nothing changes.
package domain

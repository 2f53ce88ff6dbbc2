// Package seed loads demo data through the Application's command handlers,
// so it obeys every invariant and lands in the log like any client's
// writes; it does nothing when the catalogue already has products.
//
// It sits under cmd/internal rather than app/: demo data is no use case of
// the product (no transport offers it, nothing but `orderflow-api seed`
// runs it), and it reports its phases with cmd/internal/progress, the
// binaries' terminal output, which app/ must not know. It takes the
// Application and a read port, as a transport does, so it reaches nothing
// a client could not.
package seed

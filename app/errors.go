package app

import "errors"

// Errors a use case reports; adapters/http maps each to one problem type.
// Domain errors (validation, insufficient stock, illegal transition) pass
// through unchanged.
var (
	// ErrNotFound means the named aggregate does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means concurrent writers kept winning the append, past the retry budget.
	ErrConflict = errors.New("concurrent modification")
	// ErrDuplicateSKU means another product already has this SKU, compared case-insensitively.
	ErrDuplicateSKU = errors.New("duplicate sku")
	// ErrDuplicateEmail means another customer already has this e-mail, compared case-insensitively.
	ErrDuplicateEmail = errors.New("duplicate email")
	// ErrIdempotencyInFlight means a request with the same idempotency key is still running.
	ErrIdempotencyInFlight = errors.New("idempotency key in flight")
	// ErrIdempotencyKeyReused means the idempotency key was used before with another request.
	ErrIdempotencyKeyReused = errors.New("idempotency key reused with another request")
	// ErrUnavailable means a dependency the use case needs is down.
	ErrUnavailable = errors.New("unavailable")
)

// NotFoundError names what was missing.
type NotFoundError struct {
	Kind string
	ID   string
}

func (e *NotFoundError) Error() string { return e.Kind + " " + e.ID + " not found" }
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

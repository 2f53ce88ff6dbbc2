package app

import (
	"context"
	"errors"
)

// Role is what a caller may do (docs/guarantees.md, "Auth"; ADR 8).
type Role string

// The roles a token can carry.
const (
	// RoleAdmin may do anything, for any customer.
	RoleAdmin Role = "admin"
	// RoleCustomer may act only for the customer whose id is its subject.
	RoleCustomer Role = "customer"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleCustomer }

// Principal is the authenticated caller of a request: a customer's Subject
// is its customer id.
type Principal struct {
	Subject string
	Role    Role
}

// ErrForbidden means the caller is authenticated but may not do this.
var ErrForbidden = errors.New("forbidden")

type principalKey struct{}

// WithPrincipal returns a context carrying the request's authenticated caller.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller set by WithPrincipal; ok is false for an
// anonymous request or when authentication is off.
func PrincipalFrom(ctx context.Context) (p Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// TokenVerifier turns a bearer token into its caller; adapters/jwt
// implements it. Every error means the token is not acceptable.
type TokenVerifier interface {
	Verify(token string) (Principal, error)
}

// Ownership rule (docs/guarantees.md, "Auth"): a customer acts only for the
// customer id that is its subject; an admin acts for anyone. A context without a
// principal is trusted: the transport authenticates every route that needs
// it before a use case runs, so no principal means authentication is off
// or the caller is in-process (seeding, benchmarks).
//
// A customer learns nothing about ids that are not its own: where ownership
// can be decided from the id alone (a customer id) it is decided before any
// load, and an order the customer does not own answers ErrForbidden whether
// or not it exists, so 403 never tells "exists" from "does not".

// AuthorizeCustomer returns ErrForbidden unless the caller may act for customerID.
func AuthorizeCustomer(ctx context.Context, customerID string) error {
	p, ok := PrincipalFrom(ctx)
	if !ok || p.Role == RoleAdmin || (p.Role == RoleCustomer && p.Subject == customerID) {
		return nil
	}
	return ErrForbidden
}

// AuthorizeOrder decides on an order once loaded, or after its load failed
// with loadErr: for a customer that does not own it, an order that does not
// exist is forbidden too.
func AuthorizeOrder(ctx context.Context, customerID string, loadErr error) error {
	p, ok := PrincipalFrom(ctx)
	if !ok || p.Role == RoleAdmin {
		return loadErr
	}
	if loadErr != nil {
		if errors.Is(loadErr, ErrNotFound) {
			return ErrForbidden
		}
		return loadErr
	}
	if p.Subject != customerID {
		return ErrForbidden
	}
	return nil
}

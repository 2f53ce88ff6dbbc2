package app

import (
	"context"
	"errors"
)

// Role is what a caller may do (SPEC §3 "Auth").
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

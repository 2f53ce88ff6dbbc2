// Package jwt mints and verifies OrderFlow's bearer tokens: HS256 JWTs with
// the claims sub, role and exp (ADR 8), using golang-jwt.
package jwt

// Package jwt mints and verifies OrderFlow's bearer tokens: HS256 JWTs with
// the claims sub, role and exp (SPEC §3 "Auth"), using golang-jwt.
package jwt

// Package faultproxy is a TCP proxy for fault tests: it forwards connections
// from a loopback port to a target and can cut them all at once, standing in
// for a dependency (PostgreSQL, Redis) that goes away and comes back.
//
// While cut, the proxy still accepts connections but closes each one at
// once, the way a crashed server's port behaves to a client that already
// resolved it; Restore lets new connections through again.
package faultproxy

// Package http is OrderFlow's REST adapter (openapi.yaml, docs/guarantees.md):
// an Echo instance that turns requests into app commands and queries and
// their answers into JSON, and every error into one RFC 9457 problem.
//
// Each concern has its own file: server.go wires routes and middleware,
// middleware.go observes requests and recovers panics, metadata.go sets the
// correlation id and actor, decode.go checks request bodies, response.go
// writes representations with their ETag, problem.go holds the one
// error-to-problem table, products.go, customers.go and orders.go hold the
// handlers, metrics.go the Prometheus instruments, health.go the probes and
// openapi.go the served contract, openapi.yaml, which a test keeps true.
//
// Callers import it as orderflowhttp, build a Server with NewServer and serve
// Handler with their own http.Server, which also owns graceful shutdown.
package http

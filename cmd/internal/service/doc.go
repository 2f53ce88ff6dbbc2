// Package service holds what every OrderFlow binary does the same way, so
// that each cmd/*/main.go only parses its settings, wires and runs:
//
//   - Main and Execute: the process around a binary's Main (SIGINT and
//     SIGTERM end its context so it drains, `probe URL` as its own container
//     healthcheck, the error as exit code and --help as success);
//   - Flags: settings from ORDERFLOW_* environment variables, overridden by
//     flags, and explained by --help; Logging for the structured logs;
//   - Listen and ListenAndServeWith: an HTTP server with bounded connection
//     phases that drains in-flight requests on shutdown;
//   - StartOps: the ops server of the binaries whose work is not HTTP
//     (/healthz, /readyz, /metrics), which keeps answering while they drain.
package service

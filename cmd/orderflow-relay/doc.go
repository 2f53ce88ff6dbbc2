// Command orderflow-relay moves every committed event from PostgreSQL onto
// Redis Streams, in commit order, none lost. Run `orderflow-relay --help`.
package main

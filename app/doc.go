// Package app holds OrderFlow's use cases: one file per command or query, the
// ports they need (declared here, implemented in adapters/), the event codec
// and the read representations. A handler never sees SQL, Redis or HTTP.
package app

// Package effects is the one table of what each event changes: which cached
// read models a command must evict, which the projectors rewrite, which
// composite versions the read tables bump and which a replay rebuilds. The
// write side (app/command, adapters/postgres) and the read side
// (projections) both read it, so it sits below both (docs/adr/0013-layout.md).
package effects

// Package projections turns events from the streams into cached read models.
// Each projector owns one read model and has a typed method per event it
// cares about; Handler is the thin Watermill edge that decodes an entry and
// dispatches it. Every write goes through the fenced cache service, so
// duplicates, claims and reordering change nothing; errors go back to the
// Router (retry, then the dead-letter stream), nothing acks by hand.
package projections

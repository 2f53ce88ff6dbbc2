package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/app"
)

// eventsStats prints, per event type, how many events the log holds at each
// schema version beside the version this build writes: an upcaster can be
// retired once no event of the version it reads is left, and a version
// newer than this build's means a newer build wrote to this log.
func (m *Main) eventsStats(ctx context.Context, store *postgres.Store) error {
	counts, err := store.SchemaCounts(ctx)
	if err != nil {
		return err
	}
	codec := app.NewEventCodec()
	w := tabwriter.NewWriter(m.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "EVENT TYPE\tSCHEMA\tEVENTS\tTHIS BUILD")
	var total int64
	for _, c := range counts {
		total += c.Events
		current := codec.SchemaVersion(c.Type)
		var note string
		switch {
		case current == 0:
			note = "unknown type"
		case c.SchemaVersion == current:
			note = fmt.Sprintf("v%d, current", current)
		case c.SchemaVersion < current:
			note = fmt.Sprintf("v%d, upcast on read", current)
		default:
			note = fmt.Sprintf("v%d, too new: cannot read", current)
		}
		fmt.Fprintf(w, "%s\tv%d\t%d\t%s\n", c.Type, c.SchemaVersion, c.Events, note)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(m.stdout, "%d events, %d type/version pairs\n", total, len(counts))
	return err
}

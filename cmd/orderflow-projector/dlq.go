package main

import (
	"context"
	"fmt"

	"github.com/orderflow/orderflow/adapters/streams"
)

// deadLetters lists, re-drives or drops parked entries.
func (m *Main) deadLetters(ctx context.Context, d *deps, cmd string, ids []string) error {
	dl := streams.NewDeadLetters(d.cacheClient, d.keys)
	switch cmd {
	case "dlq list":
		parked, err := dl.List(ctx, 1000)
		if err != nil {
			return err
		}
		fmt.Fprintf(m.stdout, "%d parked entries\n", len(parked))
		for _, p := range parked {
			fmt.Fprintf(m.stdout, "%s  %s  event %s %s %s v%s pos %s  attempts %s  error: %s\n",
				p.ID, p.Stream, p.EventID, p.EventType, p.AggregateID, p.Version, p.Position, p.Attempts, p.Error)
		}
		return nil
	case "dlq replay":
		n, err := dl.Replay(ctx, ids)
		of := len(ids)
		if err == nil && m.Config.DLQAll {
			var all, found int
			all, found, err = dl.ReplayAll(ctx)
			n, of = n+all, of+found
		}
		fmt.Fprintf(m.stdout, "re-drove %d of %d parked entries\n", n, of)
		return err
	default:
		n, err := dl.Drop(ctx, ids)
		if err == nil && m.Config.DLQAll {
			var all int64
			all, err = dl.DropAll(ctx)
			n += all
		}
		fmt.Fprintf(m.stdout, "dropped %d parked entries\n", n)
		return err
	}
}

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/projections"
)

// verify compares every cached projection with PostgreSQL.
func (m *Main) verify(ctx context.Context, d *deps) error {
	cache, store, err := m.newCache(d, nil)
	if err != nil {
		return err
	}
	if err := cache.RefreshGenerations(ctx); err != nil {
		return fmt.Errorf("read generation: %w", err)
	}
	start := time.Now()
	events := postgres.NewStore(d.pool)
	drift, err := projections.Verify(ctx, cache, store, events)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	fmt.Fprintf(m.stdout, "verify: %d cached projections checked in %s, %d drifted (%d differed at first and agreed when read again)\n",
		drift.Checked, time.Since(start).Round(time.Millisecond), drift.Drifted, drift.Rechecked)
	for _, s := range drift.Samples {
		fmt.Fprintln(m.stdout, "  drift:", s)
	}
	if drift.Drifted > 0 {
		return fmt.Errorf("%d cached projections drifted from PostgreSQL", drift.Drifted)
	}
	if drift.Checked > 0 {
		return nil
	}
	// Nothing compared is no evidence of agreement. With events in the log
	// the usual cause is verifying the wrong Redis or key prefix, so it
	// fails; a quiet system whose entries all expired fails too, and a
	// replay (which writes every projection) makes verify meaningful again.
	logged, err := postgres.NewReplaySource(events).Estimate(ctx)
	if err != nil {
		return fmt.Errorf("verify: count events: %w", err)
	}
	if logged > 0 {
		fmt.Fprintf(m.stdout, "verify: nothing was compared although the event log holds %d events: "+
			"the cache is empty under prefix %q (another Redis or key prefix, lost or expired entries); run replay to rebuild it\n",
			logged, m.Config.KeyPrefix)
		return fmt.Errorf("verify checked no cached projection while the event log holds %d events", logged)
	}
	fmt.Fprintln(m.stdout, "verify: the event log is empty, so there is nothing to compare")
	return nil
}

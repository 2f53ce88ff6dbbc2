package main

import (
	"context"
	"errors"
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
	emptyLog, err := projections.Judge(ctx, drift, postgres.NewReplaySource(events))
	var unverified *projections.UnverifiedError
	var drifted *projections.DriftedError
	verdict := "passed"
	switch {
	case errors.As(err, &unverified):
		verdict = "unverified"
	case errors.As(err, &drifted):
		verdict = "drifted"
	case err != nil:
		verdict = "failed"
	case emptyLog:
		verdict = "empty log"
	}
	m.recordVerify(ctx, d, drift, verdict)
	switch {
	case errors.As(err, &unverified):
		fmt.Fprintf(m.stdout, "verify: nothing was compared although the event log holds %d events: "+
			"the cache is empty under prefix %q (another Redis or key prefix, lost or expired entries); run replay to rebuild it\n",
			unverified.Logged, m.Config.KeyPrefix)
		return err
	case errors.As(err, &drifted):
		return err
	case err != nil:
		return fmt.Errorf("verify: %w", err)
	case emptyLog:
		fmt.Fprintln(m.stdout, "verify: the event log is empty, so there is nothing to compare")
	}
	return nil
}

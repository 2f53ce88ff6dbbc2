package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/cmd/internal/progress"
	"github.com/orderflow/orderflow/projections"
)

// replayMemoryLimit keeps the replay's heap, which holds every aggregate's
// folded state, within the 150 MiB budget by collecting sooner; GOMEMLIMIT
// overrides it.
const replayMemoryLimit = 110 << 20

// replay rebuilds every projection into a new generation and switches to it;
// with --online it asks a running projector to do so and follows it.
func (m *Main) replay(ctx context.Context, d *deps) error {
	if m.Config.Online {
		return m.replayOnline(ctx, d)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(replayMemoryLimit)
	}
	report := progress.NewPhased(m.stdout, progress.Config{Unit: "events"})
	defer report.Stop()
	cfg := projections.ReplayConfig{Progress: func(p projections.ReplayProgress) {
		report.Update("replay: "+p.Source, p.Events, p.Estimate)
	}}
	sum, err := m.replayWith(ctx, d, m.Config.ReplayFrom, cfg, replayNotes{
		heldBack: func() {
			report.Println("replay: waiting for transactions in flight to end: events committed after they began are not readable before")
		},
		fellBack: func(reason error) {
			report.Stop()
			fmt.Fprintf(m.stdout, "replay: the streams were trimmed (%v); reading the event store instead\n", reason)
		},
	})
	report.Stop()
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	fmt.Fprintf(m.stdout, "replay: done from the %s: %d events folded, %d keys written into generation %q in %s (%.0f events/s); readers switched from %q; %d old keys deleted; %s in all\n",
		sum.Source, sum.Events, sum.Written, sum.Generation, sum.Rebuild.Round(time.Millisecond),
		float64(sum.Events)/max(sum.Rebuild.Seconds(), 1e-9), sum.Previous, sum.DeletedOldKeys, sum.Elapsed.Round(time.Millisecond))
	return nil
}

// replayNotes are told what a replay meets on its way.
type replayNotes struct {
	heldBack func()
	fellBack func(reason error)
}

// replayWith runs one replay from `from` (auto, streams or store); the CLI
// and the online replay share it.
func (m *Main) replayWith(ctx context.Context, d *deps, from string, cfg projections.ReplayConfig, notes replayNotes) (projections.ReplaySummary, error) {
	cache, store, err := m.newCache(d, nil)
	if err != nil {
		return projections.ReplaySummary{}, err
	}
	events := postgres.NewStore(d.pool)
	fromStore := postgres.NewReplaySource(events)
	fromStore.HeldBack = notes.heldBack
	sources := projections.Sources{
		Streams:  streams.NewReplaySource(d.cacheClient, d.keys, events),
		Store:    fromStore,
		FellBack: notes.fellBack,
	}
	return projections.ReplayFrom(ctx, projections.SourceChoice(from), sources,
		func(ctx context.Context, source projections.ReplaySource) (projections.ReplaySummary, error) {
			return projections.Replay(ctx, cache, store, source, cfg)
		})
}

package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"time"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app/ops"
	"github.com/orderflow/orderflow/projections"
)

// The projector's part in the operations console
// (docs/adr/0017-operations-console.md): its beat, the online replay it
// runs when the console (or `replay --online`) asks, and verify's record.

// beatObserver counts projected events and keeps the last one's freshness
// for the beat, and passes each on to the metrics.
type beatObserver struct {
	next      streams.Observer
	projected atomic.Int64
	freshness atomic.Uint64 // float64 bits, seconds
	lastAt    atomic.Int64  // Unix nanoseconds
}

// Projected implements streams.Observer.
func (o *beatObserver) Projected(aggregateType string, occurredAt time.Time, took time.Duration) {
	o.next.Projected(aggregateType, occurredAt, took)
	now := time.Now()
	o.projected.Add(1)
	o.freshness.Store(math.Float64bits(now.Sub(occurredAt).Seconds()))
	o.lastAt.Store(now.UnixNano())
}

func (o *beatObserver) beat(name string) ops.Beat {
	b := ops.Beat{Kind: ops.KindProjector, Name: name, Projected: o.projected.Load(),
		FreshnessSeconds: math.Float64frombits(o.freshness.Load())}
	if at := o.lastAt.Load(); at != 0 {
		b.LastProjectedAt = time.Unix(0, at)
	}
	return b
}

// serveConsole publishes this instance's beat and runs the online replays
// it claims until ctx ends.
func (m *Main) serveConsole(ctx context.Context, d *deps, obs *beatObserver) {
	state := orderflowredis.NewOpsState(d.cacheClient, d.keys.Prefix)
	go ops.PublishBeats(ctx, state, func() ops.Beat { return obs.beat(m.Config.Consumer) })
	runner := &ops.Runner{Replays: state, Owner: m.Config.Consumer, Logger: d.logger,
		Run: func(ctx context.Context, st ops.ReplayStatus, report func(ops.ReplayStatus)) (ops.ReplayStatus, error) {
			return m.onlineReplay(ctx, d, st, report)
		}}
	runner.Serve(ctx)
}

// onlinePhases maps the replay's phases to the console's.
var onlinePhases = map[string]string{
	projections.PhaseOpen:    ops.PhaseStarting,
	projections.PhaseRebuild: ops.PhaseRebuild,
	projections.PhaseSwitch:  ops.PhaseSwitching,
	projections.PhaseCleanup: ops.PhaseCleanup,
}

// onlineReplay runs one claimed replay in this process, reporting progress.
func (m *Main) onlineReplay(ctx context.Context, d *deps, st ops.ReplayStatus, report func(ops.ReplayStatus)) (ops.ReplayStatus, error) {
	cur := ops.ReplayStatus{Phase: ops.PhaseStarting}
	cfg := projections.ReplayConfig{
		Progress: func(p projections.ReplayProgress) {
			cur.Phase, cur.Source, cur.Events, cur.Estimate = ops.PhaseRebuild, p.Source, p.Events, p.Estimate
			cur.Rate, cur.ETASeconds = p.Rate(), p.ETA().Seconds()
			report(cur)
		},
		Phase: func(phase string) {
			cur.Phase = onlinePhases[phase]
			if phase != projections.PhaseRebuild {
				cur.ETASeconds = 0
			}
			report(cur)
		},
	}
	sum, err := m.replayWith(ctx, d, st.From, cfg, replayNotes{
		fellBack: func(reason error) {
			d.logger.Info("online replay: the streams were trimmed; reading the event store", "reason", reason)
		},
	})
	return ops.ReplayStatus{Source: sum.Source, Generation: sum.Generation, Previous: sum.Previous, Events: sum.Events}, err
}

// newConsole is the console's use cases over this binary's connections,
// for `replay --online` and verify's record.
func (m *Main) newConsole(d *deps) (*ops.Console, error) {
	state := orderflowredis.NewOpsState(d.cacheClient, d.keys.Prefix)
	return ops.New(ops.Config{
		Beats: state, Audit: state, Replays: state, Verifications: state,
		DeadLetters: streams.NewConsoleQueue(d.cacheClient, d.keys.Prefix),
		Logger:      d.logger,
	})
}

// replayOnline asks a running projector for a replay and follows it until
// it ends; stopping this command does not stop the replay.
func (m *Main) replayOnline(ctx context.Context, d *deps) error {
	console, err := m.newConsole(d)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	st, err := console.StartReplay(ctx, "cli:"+host, m.Config.ReplayFrom)
	if err != nil {
		return fmt.Errorf("replay --online: %w", err)
	}
	fmt.Fprintf(m.stdout, "replay --online: requested %s from %s; a running projector takes it (stopping this command does not stop it)\n", st.ID, st.From)
	lastPhase := ""
	var lastEvents int64 = -1
	hinted := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		cur, ok, err := console.ReplayStatus(ctx)
		if err != nil || !ok {
			continue
		}
		if cur.ID != st.ID {
			return fmt.Errorf("replay --online: another replay (%s) replaced %s", cur.ID, st.ID)
		}
		if cur.Phase == ops.PhaseRequested && !hinted && time.Since(st.RequestedAt) > 10*time.Second {
			fmt.Fprintln(m.stdout, "replay --online: no projector has taken it yet: is one running (orderflow-projector run) with this Redis and key prefix?")
			hinted = true
		}
		if cur.Phase != lastPhase || (cur.Events != lastEvents && time.Since(cur.UpdatedAt) < 2*time.Second) {
			fmt.Fprintf(m.stdout, "replay --online: %s %s: %d of ~%d events, %.0f events/s\n", cur.Phase, cur.Runner, cur.Events, cur.Estimate, cur.Rate)
			lastPhase, lastEvents = cur.Phase, cur.Events
		}
		if ops.Finished(cur.Phase) {
			if cur.Phase != ops.PhaseDone {
				return fmt.Errorf("replay --online: %s: %s", cur.Phase, cur.Error)
			}
			fmt.Fprintf(m.stdout, "replay --online: done from the %s: %d events; readers switched from %q to %q\n", cur.Source, cur.Events, cur.Previous, cur.Generation)
			return nil
		}
	}
}

// recordVerify keeps verify's result for the console; failing to is logged,
// never verify's own failure.
func (m *Main) recordVerify(ctx context.Context, d *deps, drift projections.Drift, verdict string) {
	r := ops.VerifyResult{At: time.Now(), Checked: int64(drift.Checked), Drifted: int64(drift.Drifted),
		Rechecked: int64(drift.Rechecked), Verdict: verdict}
	r.Samples = drift.Samples
	if err := orderflowredis.NewOpsState(d.cacheClient, d.keys.Prefix).RecordVerify(context.WithoutCancel(ctx), r); err != nil {
		d.logger.Warn("cannot record verify's result for the console", "err", err)
	}
}

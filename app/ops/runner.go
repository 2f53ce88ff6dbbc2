package ops

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Runner settings: a projector looks for a requested replay every
// ClaimEvery; the lock it takes lives LockTTL and is renewed every
// RenewEvery, so a runner that dies frees it within LockTTL.
const (
	ClaimEvery = time.Second
	LockTTL    = 15 * time.Second
	RenewEvery = 2 * time.Second
	// reportEvery throttles progress writes.
	reportEvery = 500 * time.Millisecond
)

// ReplayFunc runs one replay from st.From, reporting progress through
// report (st with its progress fields set); it returns the final status
// fields (source, generation, previous, events).
type ReplayFunc func(ctx context.Context, st ReplayStatus, report func(ReplayStatus)) (ReplayStatus, error)

// Runner takes requested replays and runs them, one at a time across the
// deployment, in this process.
type Runner struct {
	Replays Replays
	// Owner names this process in the lock (a random suffix makes it unique
	// per run).
	Owner  string
	Run    ReplayFunc
	Logger *slog.Logger
	// ClaimEvery, LockTTL and RenewEvery default to the package's.
	ClaimEvery, LockTTL, RenewEvery time.Duration
}

// Serve claims and runs replays until ctx ends; a replay running when ctx
// ends is cancelled and reported failed.
func (r *Runner) Serve(ctx context.Context) {
	if r.ClaimEvery == 0 {
		r.ClaimEvery = ClaimEvery
	}
	if r.LockTTL == 0 {
		r.LockTTL = LockTTL
	}
	if r.RenewEvery == 0 {
		r.RenewEvery = RenewEvery
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	owner := r.Owner + "/" + newID(time.Now())
	t := time.NewTicker(r.ClaimEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, ok, err := r.Replays.Claim(ctx, owner, r.LockTTL)
		if err != nil || !ok {
			continue
		}
		r.runOne(ctx, owner, st)
	}
}

// runOne runs the claimed replay st while a keeper renews the lock and
// watches for a cancel.
func (r *Runner) runOne(ctx context.Context, owner string, st ReplayStatus) {
	log := r.Logger.With("replay", st.ID, "from", st.From, "requestedBy", st.RequestedBy)
	log.Info("online replay: starting")
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var mu sync.Mutex // guards st between the keeper and the reports
	st.Runner, st.Phase, st.UpdatedAt = r.Owner, PhaseStarting, time.Now()
	_ = r.Replays.Report(ctx, owner, st)

	keeperDone := make(chan struct{})
	go func() {
		defer close(keeperDone)
		t := time.NewTicker(r.RenewEvery)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
			}
			stop, err := r.Replays.Renew(runCtx, owner, r.LockTTL)
			switch {
			case errors.Is(err, ErrReplayLockLost):
				cancel(ErrReplayLockLost)
				return
			case err != nil:
				// Redis away for a moment: the lock outlives a few misses.
			case stop:
				mu.Lock()
				st.CancelRequested = true
				mu.Unlock()
				cancel(errCancelled)
				return
			}
		}
	}()

	var last time.Time
	report := func(p ReplayStatus) {
		mu.Lock()
		cur := st
		cur.Phase, cur.Source, cur.Events, cur.Estimate, cur.Rate, cur.ETASeconds = p.Phase, p.Source, p.Events, p.Estimate, p.Rate, p.ETASeconds
		st = cur
		mu.Unlock()
		if p.Phase == PhaseRebuild && time.Since(last) < reportEvery {
			return
		}
		last = time.Now()
		cur.UpdatedAt = last
		_ = r.Replays.Report(runCtx, owner, cur)
	}
	final, err := r.Run(runCtx, st, report)
	cancel(nil)
	<-keeperDone

	mu.Lock()
	end := st
	mu.Unlock()
	end.Source, end.Generation, end.Previous = final.Source, final.Generation, final.Previous
	if final.Events > 0 {
		end.Events = final.Events
	}
	end.ETASeconds = 0
	now := time.Now()
	end.UpdatedAt, end.FinishedAt = now, now
	switch cause := context.Cause(runCtx); {
	case err == nil:
		end.Phase = PhaseDone
		log.Info("online replay: done", "events", end.Events, "generation", end.Generation)
	case errors.Is(cause, errCancelled):
		if end.Phase == PhaseSwitching || end.Phase == PhaseCleanup {
			// Readers may already use the new generation; the old one's
			// keys then expire by their TTLs.
			end.Error = "cancelled while " + end.Phase + "; readers may already use generation " + end.Generation
		} else {
			end.Error = "cancelled; readers kept the current generation"
		}
		end.Phase = PhaseCancelled
		log.Info("online replay: cancelled")
	case errors.Is(cause, ErrReplayLockLost):
		end.Phase, end.Error = PhaseFailed, "the replay lock was lost (Redis unreachable for too long)"
		log.Warn("online replay: lock lost", "err", err)
	case ctx.Err() != nil:
		end.Phase, end.Error = PhaseFailed, "the projector running it stopped"
		log.Warn("online replay: stopped with the projector", "err", err)
	default:
		end.Phase, end.Error = PhaseFailed, err.Error()
		log.Warn("online replay: failed", "err", err)
	}
	if err := r.Replays.Release(context.WithoutCancel(ctx), owner, end); err != nil {
		log.Warn("online replay: cannot record the end", "err", err)
	}
}

var errCancelled = errors.New("replay cancelled")

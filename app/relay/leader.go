package relay

import (
	"context"
	"log/slog"
	"time"
)

// Elector takes the relay lock, which one relay at a time holds.
// Implemented by adapters/postgres (an advisory lock on its own connection).
type Elector interface {
	// TryLead takes the lock when it is free and returns it held; it
	// returns a nil Leadership and no error when another relay holds it.
	TryLead(ctx context.Context) (Leadership, error)
}

// Leadership is the relay lock, held.
type Leadership interface {
	// Wait blocks until a notification of appended events arrives (true),
	// the timeout passes (false), or the lock's connection fails (an error:
	// the lock may be gone). It is the relay loop's Wait.
	Wait(ctx context.Context, timeout time.Duration) (notified bool, err error)
	// Release gives the lock up.
	Release(ctx context.Context) error
}

// LeaderConfig tunes RunAsLeader.
type LeaderConfig struct {
	// Retry is how often a standby tries to take the lock.
	Retry time.Duration
	// Active is told when this relay starts (true) and stops (false)
	// relaying, for metrics.
	Active func(bool)
	Logger *slog.Logger
}

func (c *LeaderConfig) setDefaults() {
	if c.Retry == 0 {
		c.Retry = time.Second
	}
	if c.Active == nil {
		c.Active = func(bool) {}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// RunAsLeader relays while this process holds the relay lock and stands by
// while another does, until ctx ends; it returns nil then. A lost lock (its
// connection failed) is released and taken again when free, so two relays
// never publish at once for longer than a lost connection takes to notice,
// and the checkpoint's compare-and-set covers even that. PostgreSQL being
// unreachable is a standby like any other.
func (r *Relay) RunAsLeader(ctx context.Context, elector Elector, cfg LeaderConfig) error {
	cfg.setDefaults()
	logger := cfg.Logger
	standingBy := false
	for ctx.Err() == nil {
		leadership, err := elector.TryLead(ctx)
		if err != nil {
			logger.Warn("cannot reach PostgreSQL to take the relay lock", "err", err)
		}
		if leadership == nil {
			if !standingBy && err == nil {
				logger.Info("standing by: another relay holds the lock")
				standingBy = true
			}
			t := time.NewTimer(cfg.Retry)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		standingBy = false
		logger.Info("relaying: took the relay lock")
		cfg.Active(true)
		err = r.Run(ctx, leadership.Wait)
		cfg.Active(false)
		_ = leadership.Release(context.WithoutCancel(ctx))
		if err != nil {
			logger.Warn("lost the relay lock; trying to take it again", "err", err)
		}
	}
	logger.Info("stopped relaying")
	return nil
}

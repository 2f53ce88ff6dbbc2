package ops

import (
	"context"
	"errors"
	"time"
)

// Process kinds that publish beats.
const (
	KindAPI       = "api"
	KindRelay     = "relay"
	KindProjector = "projector"
)

// BeatInterval is how often every process publishes its beat; BeatTTL is how
// long a beat counts before its process is taken for gone.
const (
	BeatInterval = 2 * time.Second
	BeatTTL      = 10 * time.Second
)

// FamilyCounts are one cache family's reads on one API instance since it
// started.
type FamilyCounts struct {
	Hits   int64 `json:"hits"`
	Misses int64 `json:"misses"`
	Stale  int64 `json:"stale"`
	Loads  int64 `json:"loads"`
	// NearHits are the hits the near cache (L1) answered, also in Hits.
	NearHits int64 `json:"nearHits"`
}

// Beat is one process's own figures, published every BeatInterval. Only the
// fields of its kind are set.
type Beat struct {
	Kind string    `json:"kind"`
	Name string    `json:"name"`
	At   time.Time `json:"at"`

	// API: cumulative cache counters per family and the breaker's state.
	Families map[string]FamilyCounts `json:"families,omitempty"`
	Breaker  string                  `json:"breaker,omitempty"`

	// Relay: whether it holds the lock, and its last backlog measure.
	Active                bool    `json:"active,omitempty"`
	Backlog               int64   `json:"backlog,omitempty"`
	LagSeconds            float64 `json:"lagSeconds,omitempty"`
	OldestInFlightSeconds float64 `json:"oldestInFlightSeconds,omitempty"`

	// Projector: events projected since start, and the freshness (commit to
	// projection written) of the last one.
	Projected        int64     `json:"projected,omitempty"`
	FreshnessSeconds float64   `json:"freshnessSeconds,omitempty"`
	LastProjectedAt  time.Time `json:"lastProjectedAt,omitzero"`
}

// BeatBoard is where processes publish their beats and the console reads
// them. Implemented by adapters/redis.
type BeatBoard interface {
	Publish(ctx context.Context, b Beat) error
	// Beats returns the beats newer than BeatTTL; older ones are removed.
	Beats(ctx context.Context) ([]Beat, error)
}

// PublishBeats publishes the beat fill returns every BeatInterval until ctx
// ends; a failed publish is skipped (the process's readiness reports Redis).
func PublishBeats(ctx context.Context, board BeatBoard, fill func() Beat) {
	t := time.NewTicker(BeatInterval)
	defer t.Stop()
	for {
		b := fill()
		b.At = time.Now()
		_ = board.Publish(ctx, b)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// AuditEntry is one admin action.
type AuditEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"`
	Result string    `json:"result"`
	Error  string    `json:"error,omitempty"`
}

// AuditLog keeps the newest admin actions, a bounded list. Implemented by
// adapters/redis.
type AuditLog interface {
	Append(ctx context.Context, e AuditEntry) error
	Recent(ctx context.Context, n int) ([]AuditEntry, error)
}

// GroupLag is a consumer group's position on one stream.
type GroupLag struct {
	Stream  string `json:"stream"`
	Group   string `json:"group"`
	Lag     int64  `json:"lag"`
	Pending int64  `json:"pending"`
}

// ParkedEntry is an entry of the dead-letter stream.
type ParkedEntry struct {
	ID          string `json:"id"`
	Stream      string `json:"stream"`
	EventID     string `json:"eventId"`
	EventType   string `json:"eventType"`
	AggregateID string `json:"aggregateId"`
	Version     string `json:"version"`
	Attempts    string `json:"attempts"`
	Error       string `json:"error"`
	Unreadable  bool   `json:"unreadable"`
}

// DeadLetterQueue is the dead-letter stream and the consumer group's lag.
// Implemented by adapters/streams, over the same code as the projector's
// dlq subcommand.
type DeadLetterQueue interface {
	Count(ctx context.Context) (int64, error)
	List(ctx context.Context, limit int) ([]ParkedEntry, error)
	Redrive(ctx context.Context, ids []string) (int, error)
	RedriveAll(ctx context.Context) (int, error)
	Drop(ctx context.Context, ids []string) (int64, error)
	DropAll(ctx context.Context) (int64, error)
	Groups(ctx context.Context) ([]GroupLag, error)
}

// Replay phases.
const (
	PhaseRequested = "requested"
	PhaseStarting  = "starting"
	PhaseRebuild   = "rebuilding"
	PhaseSwitching = "switching"
	PhaseCleanup   = "deleting old generation"
	PhaseDone      = "done"
	PhaseFailed    = "failed"
	PhaseCancelled = "cancelled"
	// PhaseLost is a replay whose projector stopped renewing its lock.
	PhaseLost = "lost"
)

// Finished reports whether a replay in phase p is over.
func Finished(p string) bool {
	return p == PhaseDone || p == PhaseFailed || p == PhaseCancelled || p == PhaseLost
}

// ReplayStatus is the latest word on the online replay: requested, running
// or finished.
type ReplayStatus struct {
	ID              string    `json:"id"`
	From            string    `json:"from"`
	RequestedBy     string    `json:"requestedBy"`
	RequestedAt     time.Time `json:"requestedAt"`
	Phase           string    `json:"phase"`
	Runner          string    `json:"runner,omitempty"`
	Source          string    `json:"source,omitempty"`
	Events          int64     `json:"events"`
	Estimate        int64     `json:"estimate"`
	Rate            float64   `json:"rate"`
	ETASeconds      float64   `json:"etaSeconds"`
	Generation      string    `json:"generation,omitempty"`
	Previous        string    `json:"previous,omitempty"`
	CancelRequested bool      `json:"cancelRequested,omitempty"`
	Error           string    `json:"error,omitempty"`
	UpdatedAt       time.Time `json:"updatedAt"`
	FinishedAt      time.Time `json:"finishedAt,omitzero"`
}

// ErrReplayBusy means a replay is requested or running already.
var ErrReplayBusy = errors.New("a replay is already requested or running")

// ErrNoReplay means there is no replay to cancel.
var ErrNoReplay = errors.New("no replay is requested or running")

// ErrReplayLockLost means the runner no longer holds the replay lock.
var ErrReplayLockLost = errors.New("the replay lock was lost")

// Replays coordinates the online replay across the deployment: at most one
// requested or running, taken by one projector under a lock with an owner
// token. Implemented by adapters/redis.
type Replays interface {
	// Request records st as requested unless a replay is requested or its
	// lock is held; ErrReplayBusy otherwise.
	Request(ctx context.Context, st ReplayStatus) error
	// Status is the latest status (ok false when no replay ever ran) and
	// whether a runner holds the lock.
	Status(ctx context.Context) (st ReplayStatus, locked, ok bool, err error)
	// Cancel withdraws a requested replay (cancelled true) or asks the
	// runner to stop (cancelled false); ErrNoReplay when there is neither.
	Cancel(ctx context.Context, st ReplayStatus) (cancelled bool, err error)
	// Claim takes the lock for owner and returns the request, if any is
	// waiting and the lock is free.
	Claim(ctx context.Context, owner string, ttl time.Duration) (ReplayStatus, bool, error)
	// Renew extends owner's lock; cancel reports that a cancel was asked
	// for. ErrReplayLockLost when owner no longer holds it.
	Renew(ctx context.Context, owner string, ttl time.Duration) (cancel bool, err error)
	// Report stores st while owner holds the lock.
	Report(ctx context.Context, owner string, st ReplayStatus) error
	// Release stores st, the final status, and frees owner's lock.
	Release(ctx context.Context, owner string, st ReplayStatus) error
}

// VerifyResult is what the last `orderflow-projector verify` found.
type VerifyResult struct {
	At        time.Time `json:"at"`
	Checked   int64     `json:"checked"`
	Drifted   int64     `json:"drifted"`
	Rechecked int64     `json:"rechecked"`
	Samples   []string  `json:"samples,omitempty"`
	Verdict   string    `json:"verdict"`
}

// Verifications keeps verify's last result. Implemented by adapters/redis.
type Verifications interface {
	RecordVerify(ctx context.Context, r VerifyResult) error
	LastVerify(ctx context.Context) (VerifyResult, bool, error)
}

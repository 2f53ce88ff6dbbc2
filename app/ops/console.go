package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"
)

// Page bounds: no console call reads more than these.
const (
	// OverviewDeadLetters is how many parked entries the overview lists.
	OverviewDeadLetters = 20
	// MaxDeadLetterPage bounds a dead-letter listing.
	MaxDeadLetterPage = 100
	// OverviewAudit is how many audit entries the overview shows.
	OverviewAudit = 20
	// MaxRedriveIDs bounds the ids of one re-drive or drop.
	MaxRedriveIDs = 100
)

// Config is what the console needs; every port is required except
// Keyspace and Generation.
type Config struct {
	Beats         BeatBoard
	Audit         AuditLog
	Replays       Replays
	Verifications Verifications
	DeadLetters   DeadLetterQueue
	// Keyspace reads Redis's own keyspace hits and misses.
	Keyspace func(ctx context.Context) (hits, misses int64, err error)
	// Generation is the current cache key generation.
	Generation func(ctx context.Context) (string, error)
	Logger     *slog.Logger
	Now        func() time.Time
}

// Console is the operations console's use cases.
type Console struct{ cfg Config }

// New returns the console over cfg's ports.
func New(cfg Config) (*Console, error) {
	if cfg.Beats == nil || cfg.Audit == nil || cfg.Replays == nil || cfg.Verifications == nil || cfg.DeadLetters == nil {
		return nil, errors.New("ops: Beats, Audit, Replays, Verifications and DeadLetters are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Console{cfg: cfg}, nil
}

// FamilyFigures are one family's reads summed over the API instances.
type FamilyFigures struct {
	FamilyCounts
	HitRatio float64 `json:"hitRatio"`
}

// InstanceFigures names one live process and its state.
type InstanceFigures struct {
	Kind    string    `json:"kind"`
	Name    string    `json:"name"`
	At      time.Time `json:"at"`
	Breaker string    `json:"breaker,omitempty"`
	Active  bool      `json:"active"`
	// Projectors: events projected and the last freshness.
	Projected        int64     `json:"projected"`
	FreshnessSeconds float64   `json:"freshnessSeconds"`
	LastProjectedAt  time.Time `json:"lastProjectedAt,omitzero"`
}

// Keyspace is Redis's own count of key lookups, all clients together.
type Keyspace struct {
	Hits     int64   `json:"hits"`
	Misses   int64   `json:"misses"`
	HitRatio float64 `json:"hitRatio"`
}

// CacheOverview is the cache across the deployment.
type CacheOverview struct {
	Families map[string]FamilyFigures `json:"families"`
	// Breakers counts the API instances per breaker state.
	Breakers map[string]int `json:"breakers"`
	Redis    *Keyspace      `json:"redis,omitempty"`
	Errors   []string       `json:"errors,omitempty"`
}

// PipelineOverview is the way from the log to the read models.
type PipelineOverview struct {
	ActiveRelay           string            `json:"activeRelay"`
	Backlog               int64             `json:"backlog"`
	LagSeconds            float64           `json:"lagSeconds"`
	OldestInFlightSeconds float64           `json:"oldestInFlightSeconds"`
	Groups                []GroupLag        `json:"groups"`
	Instances             []InstanceFigures `json:"instances"`
	Errors                []string          `json:"errors,omitempty"`
}

// DeadLetterPage is the dead-letter stream's size and its oldest entries.
type DeadLetterPage struct {
	Count   int64         `json:"count"`
	Entries []ParkedEntry `json:"entries"`
	Error   string        `json:"error,omitempty"`
}

// ReplayOverview is the generation, the online replay and verify's last word.
type ReplayOverview struct {
	Generation string        `json:"generation"`
	Status     *ReplayStatus `json:"status,omitempty"`
	Verify     *VerifyResult `json:"verify,omitempty"`
	Errors     []string      `json:"errors,omitempty"`
}

// Overview is everything the console shows, each section bounded.
type Overview struct {
	At          time.Time        `json:"at"`
	Cache       CacheOverview    `json:"cache"`
	Pipeline    PipelineOverview `json:"pipeline"`
	DeadLetters DeadLetterPage   `json:"deadLetters"`
	Replay      ReplayOverview   `json:"replay"`
	Audit       []AuditEntry     `json:"audit"`
}

// unreachable is what a section says about a port that failed; the
// cause goes to the log, not to the page.
const unreachable = "redis unreachable"

// Overview reads every section; a failing source leaves its section with an
// error instead of failing the whole.
func (c *Console) Overview(ctx context.Context) Overview {
	out := Overview{
		At:    c.cfg.Now(),
		Cache: CacheOverview{Families: map[string]FamilyFigures{}, Breakers: map[string]int{}},
		Pipeline: PipelineOverview{
			Groups: []GroupLag{}, Instances: []InstanceFigures{},
		},
		DeadLetters: DeadLetterPage{Entries: []ParkedEntry{}},
		Audit:       []AuditEntry{},
	}
	fail := func(what string, err error) string {
		c.cfg.Logger.Warn("console: cannot read "+what, "err", err)
		return what + ": " + unreachable
	}
	beats, err := c.cfg.Beats.Beats(ctx)
	if err != nil {
		out.Cache.Errors = append(out.Cache.Errors, fail("beats", err))
		out.Pipeline.Errors = append(out.Pipeline.Errors, fail("beats", err))
	}
	c.summarize(&out, beats)
	if c.cfg.Keyspace != nil {
		if hits, misses, err := c.cfg.Keyspace(ctx); err != nil {
			out.Cache.Errors = append(out.Cache.Errors, fail("keyspace", err))
		} else {
			out.Cache.Redis = &Keyspace{Hits: hits, Misses: misses, HitRatio: ratio(hits, hits+misses)}
		}
	}
	if groups, err := c.cfg.DeadLetters.Groups(ctx); err != nil {
		out.Pipeline.Errors = append(out.Pipeline.Errors, fail("consumer groups", err))
	} else if groups != nil {
		out.Pipeline.Groups = groups
	}
	out.DeadLetters = c.DeadLetters(ctx, OverviewDeadLetters)
	if c.cfg.Generation != nil {
		if g, err := c.cfg.Generation(ctx); err != nil {
			out.Replay.Errors = append(out.Replay.Errors, fail("generation", err))
		} else {
			out.Replay.Generation = g
		}
	}
	if st, ok, err := c.ReplayStatus(ctx); err != nil {
		out.Replay.Errors = append(out.Replay.Errors, fail("replay", err))
	} else if ok {
		out.Replay.Status = &st
	}
	if v, ok, err := c.cfg.Verifications.LastVerify(ctx); err != nil {
		out.Replay.Errors = append(out.Replay.Errors, fail("verify", err))
	} else if ok {
		out.Replay.Verify = &v
	}
	if a, err := c.cfg.Audit.Recent(ctx, OverviewAudit); err != nil {
		c.cfg.Logger.Warn("console: cannot read the audit list", "err", err)
	} else if a != nil {
		out.Audit = a
	}
	return out
}

// summarize sums the API instances' counters and picks out the relay and
// projector figures. Counters are cumulative per instance: a sum over the
// live instances, not a window (the page shows the change between refreshes).
func (c *Console) summarize(out *Overview, beats []Beat) {
	sort.Slice(beats, func(i, j int) bool {
		if beats[i].Kind != beats[j].Kind {
			return beats[i].Kind < beats[j].Kind
		}
		return beats[i].Name < beats[j].Name
	})
	sums := map[string]FamilyCounts{}
	for _, b := range beats {
		inst := InstanceFigures{Kind: b.Kind, Name: b.Name, At: b.At}
		switch b.Kind {
		case KindAPI:
			for f, n := range b.Families {
				s := sums[f]
				s.Hits, s.Misses, s.Stale, s.Loads = s.Hits+n.Hits, s.Misses+n.Misses, s.Stale+n.Stale, s.Loads+n.Loads
				s.NearHits += n.NearHits
				sums[f] = s
			}
			if b.Breaker != "" {
				out.Cache.Breakers[b.Breaker]++
			}
			inst.Breaker = b.Breaker
		case KindRelay:
			inst.Active = b.Active
			if b.Active {
				out.Pipeline.ActiveRelay = b.Name
				out.Pipeline.Backlog = b.Backlog
				out.Pipeline.LagSeconds = b.LagSeconds
				out.Pipeline.OldestInFlightSeconds = b.OldestInFlightSeconds
			}
		case KindProjector:
			inst.Projected, inst.FreshnessSeconds, inst.LastProjectedAt = b.Projected, b.FreshnessSeconds, b.LastProjectedAt
		}
		out.Pipeline.Instances = append(out.Pipeline.Instances, inst)
	}
	for f, s := range sums {
		out.Cache.Families[f] = FamilyFigures{FamilyCounts: s, HitRatio: ratio(s.Hits, s.Hits+s.Misses+s.Stale)}
	}
}

func ratio(hits, total int64) float64 {
	if total == 0 {
		return 0
	}
	return float64(hits) / float64(total)
}

// DeadLetters returns the count and up to limit of the oldest parked entries.
func (c *Console) DeadLetters(ctx context.Context, limit int) DeadLetterPage {
	page := DeadLetterPage{Entries: []ParkedEntry{}}
	limit = min(max(limit, 1), MaxDeadLetterPage)
	n, err := c.cfg.DeadLetters.Count(ctx)
	if err != nil {
		c.cfg.Logger.Warn("console: cannot read the dead-letter stream", "err", err)
		page.Error = unreachable
		return page
	}
	page.Count = n
	if n == 0 {
		return page
	}
	entries, err := c.cfg.DeadLetters.List(ctx, limit)
	if err != nil {
		c.cfg.Logger.Warn("console: cannot read the dead-letter stream", "err", err)
		page.Error = unreachable
		return page
	}
	if entries != nil {
		page.Entries = entries
	}
	return page
}

// ReplayStatus is the online replay's latest status; a replay that was
// running when its lock expired is reported lost.
func (c *Console) ReplayStatus(ctx context.Context) (ReplayStatus, bool, error) {
	st, locked, ok, err := c.cfg.Replays.Status(ctx)
	if err != nil || !ok {
		return st, ok, err
	}
	if !locked && !Finished(st.Phase) && st.Phase != PhaseRequested {
		st.Phase = PhaseLost
		st.Error = "the projector running it stopped before it finished; start it again"
	}
	return st, true, nil
}

// ActionResult is what an action did.
type ActionResult struct {
	Action string `json:"action"`
	Done   int64  `json:"done"`
	Found  int64  `json:"found"`
}

// Redrive puts parked entries back on their streams: the ids given, or all.
func (c *Console) Redrive(ctx context.Context, actor string, ids []string, all bool) (ActionResult, error) {
	res := ActionResult{Action: "redrive", Found: int64(len(ids))}
	var err error
	if all {
		var n int
		n, err = c.cfg.DeadLetters.RedriveAll(ctx)
		res.Done, res.Found = int64(n), int64(n)
	} else {
		var n int
		n, err = c.cfg.DeadLetters.Redrive(ctx, ids)
		res.Done = int64(n)
	}
	c.audit(ctx, actor, "re-drive parked entries", target(ids, all), fmt.Sprintf("%d re-driven", res.Done), err)
	return res, err
}

// Drop removes parked entries for good: the ids given, or all.
func (c *Console) Drop(ctx context.Context, actor string, ids []string, all bool) (ActionResult, error) {
	res := ActionResult{Action: "drop", Found: int64(len(ids))}
	var err error
	if all {
		res.Done, err = c.cfg.DeadLetters.DropAll(ctx)
		res.Found = res.Done
	} else {
		res.Done, err = c.cfg.DeadLetters.Drop(ctx, ids)
	}
	c.audit(ctx, actor, "drop parked entries", target(ids, all), fmt.Sprintf("%d dropped", res.Done), err)
	return res, err
}

func target(ids []string, all bool) string {
	if all {
		return "all"
	}
	return strings.Join(ids, ",")
}

// StartReplay requests an online replay from "auto", "streams" or "store";
// one projector takes it. ErrReplayBusy when one is requested or running.
func (c *Console) StartReplay(ctx context.Context, actor, from string) (ReplayStatus, error) {
	now := c.cfg.Now()
	st := ReplayStatus{ID: newID(now), From: from, RequestedBy: actor, RequestedAt: now, Phase: PhaseRequested, UpdatedAt: now}
	err := c.cfg.Replays.Request(ctx, st)
	if errors.Is(err, ErrReplayBusy) {
		// A replay whose runner died leaves its lock to expire; its status
		// is lost, and a new one may start once the lock is gone.
		c.audit(ctx, actor, "start replay", "from "+from, "refused: already running", nil)
		return st, err
	}
	c.audit(ctx, actor, "start replay", "from "+from, "requested "+st.ID, err)
	return st, err
}

// CancelReplay withdraws a requested replay or stops a running one.
func (c *Console) CancelReplay(ctx context.Context, actor string) (ReplayStatus, error) {
	st, ok, err := c.ReplayStatus(ctx)
	if err == nil && (!ok || Finished(st.Phase)) {
		err = ErrNoReplay
	}
	if err != nil {
		c.audit(ctx, actor, "cancel replay", "", "refused", err)
		return st, err
	}
	now := c.cfg.Now()
	withdrawn := st
	withdrawn.Phase, withdrawn.UpdatedAt, withdrawn.FinishedAt = PhaseCancelled, now, now
	withdrawn.Error = "cancelled by " + actor + " before a projector took it"
	cancelled, err := c.cfg.Replays.Cancel(ctx, withdrawn)
	result := "asked the projector to stop"
	if cancelled {
		result, st = "withdrawn before it started", withdrawn
	} else {
		st.CancelRequested = true
	}
	c.audit(ctx, actor, "cancel replay", st.ID, result, err)
	return st, err
}

// audit logs one action and keeps it in the audit list.
func (c *Console) audit(ctx context.Context, actor, action, target, result string, err error) {
	e := AuditEntry{At: c.cfg.Now(), Actor: actor, Action: action, Target: target, Result: result}
	level := slog.LevelInfo
	if err != nil && !errors.Is(err, ErrReplayBusy) && !errors.Is(err, ErrNoReplay) {
		e.Result, e.Error, level = "failed", err.Error(), slog.LevelWarn
	} else if err != nil {
		e.Result = "refused: " + err.Error()
	}
	if len(e.Target) > 200 {
		e.Target = e.Target[:200] + "…"
	}
	c.cfg.Logger.Log(ctx, level, "admin action", "audit", true, "actor", e.Actor, "action", e.Action,
		"target", e.Target, "result", e.Result, "err", e.Error)
	if err := c.cfg.Audit.Append(context.WithoutCancel(ctx), e); err != nil {
		c.cfg.Logger.Warn("console: cannot keep the audit entry", "err", err)
	}
}

// Audit returns the newest audit entries, up to n (at most OverviewAudit×5).
func (c *Console) Audit(ctx context.Context, n int) ([]AuditEntry, error) {
	return c.cfg.Audit.Recent(ctx, min(max(n, 1), 5*OverviewAudit))
}

func newID(now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "r" + now.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

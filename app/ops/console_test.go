package ops

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakes of the console's own ports, for the policies below.
type fakeBeats struct{ beats []Beat }

func (f *fakeBeats) Publish(context.Context, Beat) error   { return nil }
func (f *fakeBeats) Beats(context.Context) ([]Beat, error) { return f.beats, nil }
func (f *fakeAudit) Append(_ context.Context, e AuditEntry) error {
	f.entries = append(f.entries, e)
	return nil
}
func (f *fakeAudit) Recent(context.Context, int) ([]AuditEntry, error) { return f.entries, nil }

type fakeAudit struct{ entries []AuditEntry }

type fakeReplays struct {
	Replays
	st     ReplayStatus
	locked bool
}

func (f *fakeReplays) Status(context.Context) (ReplayStatus, bool, bool, error) {
	return f.st, f.locked, f.st.ID != "", nil
}

type fakeVerify struct{ Verifications }

func (fakeVerify) LastVerify(context.Context) (VerifyResult, bool, error) {
	return VerifyResult{}, false, nil
}

type fakeQueue struct{ DeadLetterQueue }

func (fakeQueue) Count(context.Context) (int64, error)       { return 0, errors.New("redis down") }
func (fakeQueue) Groups(context.Context) ([]GroupLag, error) { return nil, nil }

// A running replay whose lock is gone is reported lost (its projector
// died), and one that waits for a projector is not; the active relay's
// figures are the pipeline's; a failing source fails only its section.
func TestOverviewPolicies(t *testing.T) {
	now := time.Now()
	replays := &fakeReplays{st: ReplayStatus{ID: "r1", Phase: PhaseRebuild}}
	c, err := New(Config{
		Beats: &fakeBeats{beats: []Beat{
			{Kind: KindRelay, Name: "standby", At: now, Backlog: 99},
			{Kind: KindRelay, Name: "active", At: now, Active: true, Backlog: 3, LagSeconds: 0.5},
			{Kind: KindAPI, Name: "a", At: now, Breaker: "open", Families: map[string]FamilyCounts{"product": {Hits: 1, Misses: 3}}},
		}},
		Audit: &fakeAudit{}, Replays: replays, Verifications: fakeVerify{}, DeadLetters: fakeQueue{},
	})
	if err != nil {
		t.Fatal(err)
	}
	o := c.Overview(context.Background())
	if o.Replay.Status == nil || o.Replay.Status.Phase != PhaseLost {
		t.Errorf("running replay without its lock: %+v, want lost", o.Replay.Status)
	}
	if o.Pipeline.ActiveRelay != "active" || o.Pipeline.Backlog != 3 || o.Pipeline.LagSeconds != 0.5 {
		t.Errorf("pipeline: %+v, want the active relay's figures", o.Pipeline)
	}
	if f := o.Cache.Families["product"]; f.HitRatio != 0.25 || o.Cache.Breakers["open"] != 1 {
		t.Errorf("cache: %+v", o.Cache)
	}
	if o.DeadLetters.Error == "" || o.Cache.Errors != nil {
		t.Errorf("a failing dead-letter read: dead letters %+v, cache errors %v", o.DeadLetters, o.Cache.Errors)
	}

	replays.st.Phase, replays.locked = PhaseRequested, false
	if st, _, _ := c.ReplayStatus(context.Background()); st.Phase != PhaseRequested {
		t.Errorf("a waiting request: %s, want requested", st.Phase)
	}
	replays.st.Phase, replays.locked = PhaseRebuild, true
	if st, _, _ := c.ReplayStatus(context.Background()); st.Phase != PhaseRebuild {
		t.Errorf("a running replay holding its lock: %s", st.Phase)
	}
}

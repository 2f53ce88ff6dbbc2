package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/app/ops"
)

// The replay's coordination keeps one replay at a time across the
// deployment: a request while one waits or runs is refused, one claimant
// takes it, only the lock's owner renews, reports and releases it, a
// cancel reaches the runner, and a runner that stops renewing loses it.
func TestOnlineReplayLockProtocol(t *testing.T) {
	client, prefix := redistest.New(t)
	s := orderflowredis.NewOpsState(client, prefix)
	ctx := context.Background()

	if _, _, ok, err := s.Status(ctx); err != nil || ok {
		t.Fatalf("status before any replay: ok %v, %v", ok, err)
	}
	req := ops.ReplayStatus{ID: "r1", From: "auto", RequestedBy: "admin:ops", Phase: ops.PhaseRequested}
	if err := s.Request(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := s.Request(ctx, ops.ReplayStatus{ID: "r2"}); !errors.Is(err, ops.ErrReplayBusy) {
		t.Fatalf("second request while one waits: %v, want ErrReplayBusy", err)
	}
	got, ok, err := s.Claim(ctx, "a", time.Minute)
	if err != nil || !ok || got.ID != "r1" {
		t.Fatalf("claim: %+v %v %v", got, ok, err)
	}
	if _, ok, err := s.Claim(ctx, "b", time.Minute); err != nil || ok {
		t.Fatalf("a second claimant took the replay too: ok %v, %v", ok, err)
	}
	if err := s.Request(ctx, ops.ReplayStatus{ID: "r3"}); !errors.Is(err, ops.ErrReplayBusy) {
		t.Fatalf("request while one runs: %v, want ErrReplayBusy", err)
	}
	running := got
	running.Phase, running.Events = ops.PhaseRebuild, 42
	if err := s.Report(ctx, "a", running); err != nil {
		t.Fatal(err)
	}
	if err := s.Report(ctx, "b", ops.ReplayStatus{ID: "r1", Phase: "forged"}); err != nil {
		t.Fatal(err)
	}
	st, locked, ok, err := s.Status(ctx)
	if err != nil || !ok || !locked || st.Phase != ops.PhaseRebuild || st.Events != 42 {
		t.Fatalf("status while running: %+v locked %v ok %v %v (a non-owner's report must not land)", st, locked, ok, err)
	}
	if _, err := s.Renew(ctx, "b", time.Minute); !errors.Is(err, ops.ErrReplayLockLost) {
		t.Fatalf("renew by a non-owner: %v, want ErrReplayLockLost", err)
	}
	if cancel, err := s.Renew(ctx, "a", time.Minute); err != nil || cancel {
		t.Fatalf("renew before a cancel: cancel %v, %v", cancel, err)
	}
	if withdrawn, err := s.Cancel(ctx, ops.ReplayStatus{ID: "r1", Phase: ops.PhaseCancelled}); err != nil || withdrawn {
		t.Fatalf("cancel of a running replay: withdrawn %v, %v; want the runner asked", withdrawn, err)
	}
	if cancel, err := s.Renew(ctx, "a", time.Minute); err != nil || !cancel {
		t.Fatalf("renew after a cancel: cancel %v, %v; want true", cancel, err)
	}
	done := running
	done.Phase = ops.PhaseCancelled
	if err := s.Release(ctx, "a", done); err != nil {
		t.Fatal(err)
	}
	if st, locked, _, _ := s.Status(ctx); locked || st.Phase != ops.PhaseCancelled {
		t.Fatalf("after release: %+v locked %v", st, locked)
	}
	if _, err := s.Cancel(ctx, ops.ReplayStatus{}); !errors.Is(err, ops.ErrNoReplay) {
		t.Fatalf("cancel with nothing running: %v, want ErrNoReplay", err)
	}

	// A waiting request is withdrawn by a cancel, and the next may start.
	if err := s.Request(ctx, ops.ReplayStatus{ID: "r4", Phase: ops.PhaseRequested}); err != nil {
		t.Fatalf("request after the last ended: %v", err)
	}
	if withdrawn, err := s.Cancel(ctx, ops.ReplayStatus{ID: "r4", Phase: ops.PhaseCancelled}); err != nil || !withdrawn {
		t.Fatalf("cancel of a waiting request: withdrawn %v, %v", withdrawn, err)
	}
	if _, ok, err := s.Claim(ctx, "a", time.Minute); err != nil || ok {
		t.Fatalf("a withdrawn request was claimed: ok %v, %v", ok, err)
	}

	// A runner that stops renewing loses the lock when it expires.
	if err := s.Request(ctx, ops.ReplayStatus{ID: "r5"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Claim(ctx, "c", 200*time.Millisecond); err != nil || !ok {
		t.Fatalf("claim r5: %v %v", ok, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, locked, _, err := s.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !locked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock outlived its TTL")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := s.Renew(ctx, "c", time.Minute); !errors.Is(err, ops.ErrReplayLockLost) {
		t.Fatalf("renew after the lock expired: %v, want ErrReplayLockLost", err)
	}
}

// The audit list keeps the newest entries only, newest first; beats of
// processes that stopped publishing drop out.
func TestAuditListIsBoundedAndStaleBeatsDropOut(t *testing.T) {
	client, prefix := redistest.New(t)
	s := orderflowredis.NewOpsState(client, prefix)
	ctx := context.Background()
	for i := range 130 {
		if err := s.Append(ctx, ops.AuditEntry{Action: "a", Target: string(rune('A' + i%26)), Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := client.LLen(ctx, prefix+"{ops}:audit").Result(); err != nil || n != 100 {
		t.Fatalf("audit list holds %d entries (%v), want 100", n, err)
	}
	recent, err := s.Recent(ctx, 3)
	if err != nil || len(recent) != 3 || recent[0].Target != string(rune('A'+129%26)) {
		t.Fatalf("recent: %+v %v", recent, err)
	}

	now := time.Now()
	for _, b := range []ops.Beat{
		{Kind: ops.KindAPI, Name: "live", At: now},
		{Kind: ops.KindAPI, Name: "gone", At: now.Add(-ops.BeatTTL - time.Second)},
	} {
		if err := s.Publish(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	beats, err := s.Beats(ctx)
	if err != nil || len(beats) != 1 || beats[0].Name != "live" {
		t.Fatalf("beats: %+v %v, want only the live one", beats, err)
	}
	if n, _ := client.HLen(ctx, prefix+"{ops}:beats").Result(); n != 1 {
		t.Errorf("the stale beat was not removed: %d fields", n)
	}
}

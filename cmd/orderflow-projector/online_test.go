package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/ops"
	"github.com/orderflow/orderflow/internal/testenv"
)

// seedForReplay creates a few products and customers, relays them and
// waits until the running projector has them.
func seedForReplay(t *testing.T, d *deployment) {
	t.Helper()
	ctx := context.Background()
	for i := range 3 {
		if _, err := d.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: fmt.Sprintf("ON-%d", i), Name: "Online", PriceCents: 100, Currency: "EUR", InitialStock: 5}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: fmt.Sprintf("on%d@example.com", i), Name: "Online"}); err != nil {
			t.Fatal(err)
		}
	}
	d.RelayAll(t)
	testenv.WaitFor(t, waitLimit, "the projector to catch up", d.caughtUp(t, 0))
}

// `replay --online` asks the running projector to replay, follows its
// progress to the end, and readers move to the new generation; verify's
// result is recorded for the console.
func TestOnlineReplayRunsInsideARunningProjector(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	ctx := context.Background()
	d.startProjector(t, "online-a")
	d.startProjector(t, "online-b")
	seedForReplay(t, d)
	before, _ := d.Redis.Get(ctx, d.CacheKeys.Generation()).Result()

	stdout, stderr, code := runOnce(t, d.env(t), "replay", "--online")
	if code != 0 || !strings.Contains(stdout, "replay --online: done from the") {
		t.Fatalf("replay --online exited %d:\n%s\n%s", code, stdout, stderr)
	}
	state := orderflowredis.NewOpsState(d.Redis, d.Keys.Prefix)
	st, locked, ok, err := state.Status(ctx)
	if err != nil || !ok || locked || st.Phase != ops.PhaseDone || !strings.HasPrefix(st.Runner, "online-") || st.Events < 6 {
		t.Fatalf("status after the replay: %+v locked %v ok %v %v", st, locked, ok, err)
	}
	after, err := d.Redis.Get(ctx, d.CacheKeys.Generation()).Result()
	if err != nil || after == before || after != st.Generation {
		t.Fatalf("generation %q -> %q (%v), status says %q", before, after, err, st.Generation)
	}
	audit, err := state.Recent(ctx, 5)
	if err != nil || len(audit) == 0 || audit[0].Action != "start replay" || !strings.HasPrefix(audit[0].Actor, "cli:") {
		t.Errorf("audit after replay --online: %+v %v", audit, err)
	}

	stdout, _, code = runOnce(t, d.env(t), "verify")
	if code != 0 {
		t.Fatalf("verify exited %d:\n%s", code, stdout)
	}
	v, ok, err := state.LastVerify(ctx)
	if err != nil || !ok || v.Verdict != "passed" || v.Checked == 0 {
		t.Errorf("verify's recorded result: %+v ok %v %v", v, ok, err)
	}
}

// A cancelled online replay stops, leaves readers on their generation and
// frees the lock for the next one.
func TestOnlineReplayCanBeCancelled(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	ctx := context.Background()
	d.startProjector(t, "cancel")
	seedForReplay(t, d)
	before, _ := d.Redis.Get(ctx, d.CacheKeys.Generation()).Result()
	state := orderflowredis.NewOpsState(d.Redis, d.Keys.Prefix)
	console, err := ops.New(ops.Config{Beats: state, Audit: state, Replays: state, Verifications: state, DeadLetters: noQueue{}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := console.StartReplay(ctx, "admin:test", "store")
	if err != nil {
		t.Fatal(err)
	}
	// The replay waits a few generation refreshes before it rebuilds: a
	// cancel while it starts reaches it running.
	testenv.WaitFor(t, waitLimit, "the projector to take the replay", func() (bool, string) {
		cur, _, err := console.ReplayStatus(ctx)
		return err == nil && cur.Runner != "", fmt.Sprintf("%+v %v", cur, err)
	})
	if cur, err := console.CancelReplay(ctx, "admin:test"); err != nil || !cur.CancelRequested {
		t.Fatalf("cancel: %+v %v", cur, err)
	}
	testenv.WaitFor(t, waitLimit, "the replay to stop", func() (bool, string) {
		cur, _, err := console.ReplayStatus(ctx)
		return err == nil && cur.ID == st.ID && cur.Phase == ops.PhaseCancelled, fmt.Sprintf("%+v %v", cur, err)
	})
	if after, _ := d.Redis.Get(ctx, d.CacheKeys.Generation()).Result(); after != before {
		t.Errorf("a cancelled replay switched readers: %q -> %q", before, after)
	}
	if n, err := d.Redis.Exists(ctx, d.CacheKeys.NextGeneration()).Result(); err != nil || n != 0 {
		t.Errorf("a cancelled replay left the next-generation pointer (%d, %v)", n, err)
	}
	if _, err := console.StartReplay(ctx, "admin:test", "auto"); err != nil {
		t.Fatalf("the next replay after a cancel: %v", err)
	}
	testenv.WaitFor(t, waitLimit, "the next replay to finish", func() (bool, string) {
		cur, _, err := console.ReplayStatus(ctx)
		return err == nil && cur.Phase == ops.PhaseDone, fmt.Sprintf("%+v %v", cur, err)
	})
}

// noQueue stands in for the dead-letter queue a replay test does not use.
type noQueue struct{ ops.DeadLetterQueue }

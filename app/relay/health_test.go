package relay_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/app/relay/mock"
)

// Health answers the last round: nil before the first, the failure after a
// round that could not reach a side, nil again once one does, and
// ErrCheckpointOutsideLog while the log cannot continue from the
// checkpoint. Each round is checked from another goroutine, as the ops
// server's readiness probe reads it.
func TestHealthIsTheLastRoundsError(t *testing.T) {
	errDown := errors.New("Redis unreachable")
	var (
		mu     sync.Mutex
		rounds int
	)
	// Round 1 cannot read the checkpoint, round 2 finds nothing to relay,
	// round 3 finds the checkpoint outside the log.
	publisher := &mock.Publisher{
		CheckpointFn: func(context.Context) (relay.LogPosition, error) {
			mu.Lock()
			defer mu.Unlock()
			if rounds++; rounds == 1 {
				return relay.LogPosition{}, errDown
			}
			return relay.LogPosition{TxID: 5, Position: 3}, nil
		},
		PublishFn: func(context.Context, relay.LogPosition, []relay.CommittedEvent) error {
			t.Error("Publish called with nothing to relay")
			return nil
		},
	}
	outbox := &mock.Outbox{
		ReadCommittedFn: func(context.Context, relay.LogPosition, int) ([]relay.CommittedEvent, error) { return nil, nil },
		HoldsFn: func(context.Context, relay.LogPosition) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return rounds < 3, nil
		},
	}
	reported := make(chan error)
	proceed := make(chan struct{})
	r, err := relay.New(outbox, publisher, relay.Config{
		MaxBackoff: time.Millisecond,
		Healthy: func(err error) {
			reported <- err
			<-proceed
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Health(); err != nil {
		t.Fatalf("Health before the first round = %v, want nil", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	idle := func(ctx context.Context, _ time.Duration) (bool, error) { return false, nil }
	go func() { done <- r.Run(ctx, idle) }()

	for i, want := range []func(error) bool{
		func(err error) bool { return errors.Is(err, errDown) },
		func(err error) bool { return err == nil },
		func(err error) bool { return errors.Is(err, relay.ErrCheckpointOutsideLog) },
	} {
		select {
		case told := <-reported:
			if got := r.Health(); !want(got) || !errors.Is(got, told) {
				t.Errorf("round %d: Health = %v, Healthy told %v", i+1, got, told)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d never ended", i+1)
		}
		if i == 2 {
			cancel()
		}
		proceed <- struct{}{}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil once ctx ended", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
	if !errors.Is(r.Health(), relay.ErrCheckpointOutsideLog) {
		t.Errorf("Health after Run = %v, want the last round's ErrCheckpointOutsideLog", r.Health())
	}
}

package relay_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/app/relay/mock"
)

// memLog is an in-memory outbox and stream checkpoint: what the relay reads
// and where it publishes, without PostgreSQL or Redis.
type memLog struct {
	mu        sync.Mutex
	events    []relay.CommittedEvent
	cp        relay.LogPosition
	published []relay.LogPosition
}

func newMemLog(positions ...relay.LogPosition) *memLog {
	l := &memLog{}
	for _, p := range positions {
		l.events = append(l.events, relay.CommittedEvent{RecordedEvent: app.RecordedEvent{Type: "StockAdded"}, At: p})
	}
	return l
}

func (l *memLog) outbox() *mock.Outbox {
	return &mock.Outbox{
		ReadCommittedFn: func(_ context.Context, after relay.LogPosition, limit int) ([]relay.CommittedEvent, error) {
			l.mu.Lock()
			defer l.mu.Unlock()
			var out []relay.CommittedEvent
			for _, e := range l.events {
				if e.At.After(after) && len(out) < limit {
					out = append(out, e)
				}
			}
			return out, nil
		},
		HoldsFn: func(context.Context, relay.LogPosition) (bool, error) { return true, nil },
	}
}

func (l *memLog) publisher() *mock.Publisher {
	return &mock.Publisher{
		CheckpointFn: func(context.Context) (relay.LogPosition, error) {
			l.mu.Lock()
			defer l.mu.Unlock()
			return l.cp, nil
		},
		PublishFn: func(_ context.Context, from relay.LogPosition, events []relay.CommittedEvent) error {
			l.mu.Lock()
			defer l.mu.Unlock()
			if from != l.cp {
				return relay.ErrCheckpointMoved
			}
			for _, e := range events {
				l.published = append(l.published, e.At)
			}
			l.cp = events[len(events)-1].At
			return nil
		},
	}
}

// leadership is a fake lock that counts its releases; wait decides what
// each Wait does.
func leadership(released *int, mu *sync.Mutex, wait func(ctx context.Context) (bool, error)) *mock.Leadership {
	return &mock.Leadership{
		WaitFn: func(ctx context.Context, _ time.Duration) (bool, error) { return wait(ctx) },
		ReleaseFn: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			*released++
			return nil
		},
	}
}

// A relay stands by while another holds the lock or PostgreSQL is down,
// relays once it takes the lock, gives a lost lock back and takes it again,
// and stops when ctx ends; every lock it took is released, and metrics see
// each spell of relaying.
func TestRunAsLeaderStandsByRelaysAndTakesOverAgain(t *testing.T) {
	log := newMemLog(relay.LogPosition{TxID: 10, Position: 1}, relay.LogPosition{TxID: 11, Position: 2})
	r, err := relay.New(log.outbox(), log.publisher(), relay.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		mu                      sync.Mutex
		tries                   int
		active                  []bool
		firstFreed, secondFreed int
	)
	lost := errors.New("connection to the lock lost")
	first := leadership(&firstFreed, &mu, func(context.Context) (bool, error) { return false, lost })
	second := leadership(&secondFreed, &mu, func(ctx context.Context) (bool, error) {
		cancel() // the process is told to stop while it relays
		return false, ctx.Err()
	})
	elector := &mock.Elector{TryLeadFn: func(context.Context) (relay.Leadership, error) {
		mu.Lock()
		defer mu.Unlock()
		tries++
		switch tries {
		case 1:
			return nil, nil // another relay holds the lock
		case 2:
			return nil, errors.New("PostgreSQL unreachable")
		case 3:
			return first, nil
		case 4:
			return second, nil
		}
		t.Errorf("TryLead called %d times", tries)
		return nil, nil
	}}

	done := make(chan error, 1)
	go func() {
		done <- r.RunAsLeader(ctx, elector, relay.LeaderConfig{
			Retry: time.Millisecond,
			Active: func(on bool) {
				mu.Lock()
				defer mu.Unlock()
				active = append(active, on)
			},
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunAsLeader = %v, want nil once ctx ended", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("RunAsLeader did not return after ctx ended")
	}

	mu.Lock()
	defer mu.Unlock()
	if tries != 4 {
		t.Errorf("TryLead called %d times, want 4", tries)
	}
	if want := []bool{true, false, true, false}; !slices.Equal(active, want) {
		t.Errorf("Active told %v, want %v", active, want)
	}
	if firstFreed != 1 || secondFreed != 1 {
		t.Errorf("locks released %d and %d times, want once each", firstFreed, secondFreed)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if want := []relay.LogPosition{{TxID: 10, Position: 1}, {TxID: 11, Position: 2}}; !slices.Equal(log.published, want) {
		t.Errorf("published %v, want each event once, in commit order: %v", log.published, want)
	}
}

// A standby that never gets the lock stops when ctx ends, without relaying.
func TestRunAsLeaderStandbyStopsWithCtx(t *testing.T) {
	log := newMemLog()
	r, err := relay.New(log.outbox(), log.publisher(), relay.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	tries, relayed := 0, false
	elector := &mock.Elector{TryLeadFn: func(context.Context) (relay.Leadership, error) {
		mu.Lock()
		defer mu.Unlock()
		if tries++; tries == 3 {
			cancel()
		}
		return nil, nil
	}}
	err = r.RunAsLeader(ctx, elector, relay.LeaderConfig{Retry: time.Millisecond, Active: func(bool) {
		mu.Lock()
		defer mu.Unlock()
		relayed = true
	}})
	if err != nil {
		t.Fatalf("RunAsLeader = %v, want nil", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if tries != 3 || relayed {
		t.Errorf("tried %d times (want 3), relayed %v (want never)", tries, relayed)
	}
}

// The backlog is measured behind the published checkpoint; a checkpoint
// that cannot be read skips the sample instead of reporting a wrong one.
func TestSampleBacklogMeasuresBehindTheCheckpoint(t *testing.T) {
	cp := relay.LogPosition{TxID: 7, Position: 3}
	var mu sync.Mutex
	reads := 0
	publisher := &mock.Publisher{CheckpointFn: func(context.Context) (relay.LogPosition, error) {
		mu.Lock()
		defer mu.Unlock()
		if reads++; reads == 1 {
			return relay.LogPosition{}, errors.New("Redis unreachable")
		}
		return cp, nil
	}}
	want := relay.Backlog{Backlog: 42, OldestUnpublished: time.Unix(1_800_000_000, 0), OldestInFlight: time.Second}
	var asked []relay.LogPosition
	log := &mock.BacklogReader{StatsFn: func(_ context.Context, after relay.LogPosition) (relay.Backlog, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, after)
		return want, nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	samples := make(chan relay.Backlog, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		relay.SampleBacklog(ctx, time.Millisecond, publisher, log, func(b relay.Backlog) {
			select {
			case samples <- b:
			default:
			}
		})
	}()
	select {
	case got := <-samples:
		if got != want {
			t.Errorf("sample %+v, want %+v", got, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no sample")
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if reads < 2 || len(asked) == 0 || asked[0] != cp {
		t.Errorf("checkpoint read %d times, stats asked after %v; want the failed read skipped and the stats asked after %v", reads, asked, cp)
	}
}

package streams_test

import (
	"context"
	"testing"
	"time"

	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/adapters/streams"
)

// An operator's 0 re-runs means none, which the Router config spells -1
// (its 0 takes the default); any other count passes through.
func TestRetriesOf(t *testing.T) {
	for reRuns, want := range map[int]int{0: -1, 1: 1, 3: 3, 20: 20} {
		if got := streams.RetriesOf(reRuns); got != want {
			t.Errorf("RetriesOf(%d) = %d, want %d", reRuns, got, want)
		}
	}
}

// SampleLag hands over both measures every interval: with no stream and
// nothing parked, no lag and no parked entry.
func TestSampleLagMeasuresGroupsAndParkedEntries(t *testing.T) {
	client, prefix := redistest.New(t)
	keys := streams.Keys{Prefix: prefix, StreamShards: redistest.StreamShards(t)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lags := make(chan []streams.GroupLag, 1)
	parked := make(chan int64, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		streams.SampleLag(ctx, client, keys, "sample-group", time.Millisecond,
			func(l []streams.GroupLag) {
				select {
				case lags <- l:
				default:
				}
			},
			func(n int64) {
				select {
				case parked <- n:
				default:
				}
			})
	}()
	deadline := time.After(30 * time.Second)
	for sawLag, sawParked := false, false; !sawLag || !sawParked; {
		select {
		case l := <-lags:
			sawLag = true
			if len(l) != 0 {
				t.Errorf("lag with no stream = %+v, want none", l)
			}
		case n := <-parked:
			sawParked = true
			if n != 0 {
				t.Errorf("%d parked entries, want 0", n)
			}
		case <-deadline:
			t.Fatal("no measure within 30 s")
		}
	}
	cancel()
	<-done
}

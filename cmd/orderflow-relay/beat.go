package main

import (
	"context"
	"math"
	"os"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/app/ops"
	"github.com/orderflow/orderflow/app/relay"
)

// relayBeat keeps what the operations console shows of this relay
// (docs/adr/0017-operations-console.md): whether it is the active one and
// its last backlog measure.
type relayBeat struct {
	active         atomic.Bool
	backlog        atomic.Int64
	lag            atomic.Uint64 // float64 bits, seconds
	oldestInFlight atomic.Uint64 // float64 bits, seconds
}

func (b *relayBeat) observeActive(on bool) { b.active.Store(on) }

func (b *relayBeat) observeBacklog(m relay.Backlog) {
	b.backlog.Store(m.Backlog)
	lag := 0.0
	if !m.OldestUnpublished.IsZero() {
		lag = time.Since(m.OldestUnpublished).Seconds()
	}
	b.lag.Store(math.Float64bits(lag))
	b.oldestInFlight.Store(math.Float64bits(m.OldestInFlight.Seconds()))
}

// publish sends the beat every ops.BeatInterval until ctx ends; the relay
// is named by its host and ops address, unique per instance.
func (b *relayBeat) publish(ctx context.Context, client redis.UniversalClient, prefix, addr string) {
	host, _ := os.Hostname()
	name := host + " " + addr
	ops.PublishBeats(ctx, orderflowredis.NewOpsState(client, prefix), func() ops.Beat {
		return ops.Beat{Kind: ops.KindRelay, Name: name, Active: b.active.Load(), Backlog: b.backlog.Load(),
			LagSeconds: math.Float64frombits(b.lag.Load()), OldestInFlightSeconds: math.Float64frombits(b.oldestInFlight.Load())}
	})
}

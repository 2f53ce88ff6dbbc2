package main

import (
	"context"
	"os"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/ops"
)

// newConsole wires the operations console (docs/adr/0017-operations-console.md)
// and starts publishing this instance's beat: its cache counters, which the
// console sums over every live API instance, and its breaker's state.
func (m *Main) newConsole(ctx context.Context, c *cache.Cache, store *orderflowredis.CacheStore,
	keyspace func(ctx context.Context) (int64, int64, error)) (*ops.Console, error) {
	state := orderflowredis.NewOpsState(m.conns.Redis, m.Config.KeyPrefix)
	cfg := ops.Config{
		Beats: state, Audit: state, Replays: state, Verifications: state,
		DeadLetters: streams.NewConsoleQueue(m.conns.Redis, m.Config.KeyPrefix),
		Keyspace:    keyspace,
		Logger:      m.logger,
	}
	if c != nil {
		cfg.Generation = func(context.Context) (string, error) { return c.Generation(), nil }
	}
	console, err := ops.New(cfg)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	name := host + " " + m.Config.HTTPAddr
	go ops.PublishBeats(ctx, state, func() ops.Beat {
		b := ops.Beat{Kind: ops.KindAPI, Name: name, Breaker: "off (cache disabled)"}
		if c == nil {
			return b
		}
		b.Breaker = store.BreakerState()
		b.Families = map[string]ops.FamilyCounts{}
		for _, f := range cache.Families() {
			st := c.Stats(f)
			b.Families[string(f)] = ops.FamilyCounts{Hits: st.Hits.Load(), Misses: st.Misses.Load(), Stale: st.Stale.Load(), Loads: st.Loads.Load(), NearHits: st.NearHits.Load()}
		}
		return b
	})
	return console, nil
}

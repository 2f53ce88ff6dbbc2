package streams

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// SampleLag measures, every interval until ctx ends, how far a consumer
// group is behind on every stream (handed to groups) and how many entries
// are parked in the dead-letter stream (handed to deadLetters). A measure
// that fails is skipped: the projector's readiness reports Redis down.
func SampleLag(ctx context.Context, client redis.UniversalClient, keys Keys, group string, interval time.Duration,
	groups func([]GroupLag), deadLetters func(int64)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	parked := NewDeadLetters(client, keys)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if lags, err := ConsumerLag(ctx, client, keys, group); err == nil {
			groups(lags)
		}
		if n, err := parked.Len(ctx); err == nil {
			deadLetters(n)
		}
	}
}

// RetriesOf turns a number of re-runs as an operator writes it, where 0
// means none, into ProjectorConfig.MaxRetries, where 0 takes the default.
func RetriesOf(reRuns int) int {
	if reRuns == 0 {
		return -1
	}
	return reRuns
}

package streams

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app/ops"
)

// ConsoleQueue is the dead-letter stream and the consumer group's lag as
// the operations console sees them (ops.DeadLetterQueue), over the same
// DeadLetters the projector's dlq subcommand uses. The API has no stream
// shard setting: it reads the count the relay and projectors recorded.
type ConsoleQueue struct {
	client redis.UniversalClient
	prefix string
}

// NewConsoleQueue returns the console's view of the streams under prefix.
func NewConsoleQueue(client redis.UniversalClient, prefix string) *ConsoleQueue {
	return &ConsoleQueue{client: client, prefix: prefix}
}

// keys reads the recorded shard count (one GET); none recorded yet means
// no stream was written, and one shard is as good as any.
func (q *ConsoleQueue) keys(ctx context.Context) (Keys, error) {
	k := Keys{Prefix: q.prefix}
	n, err := q.client.Get(ctx, k.StreamShardsKey()).Int()
	switch {
	case errors.Is(err, redis.Nil):
		return k, nil
	case err != nil:
		return k, fmt.Errorf("read stream shard count: %w", err)
	}
	k.StreamShards = n
	return k, nil
}

func (q *ConsoleQueue) dead() *DeadLetters {
	// The dead-letter stream is shard 0's whatever the count.
	return NewDeadLetters(q.client, Keys{Prefix: q.prefix})
}

// Count is the number of parked entries.
func (q *ConsoleQueue) Count(ctx context.Context) (int64, error) { return q.dead().Len(ctx) }

// List returns up to limit parked entries, oldest first.
func (q *ConsoleQueue) List(ctx context.Context, limit int) ([]ops.ParkedEntry, error) {
	parked, err := q.dead().List(ctx, int64(limit))
	if err != nil {
		return nil, err
	}
	out := make([]ops.ParkedEntry, len(parked))
	for i, p := range parked {
		out[i] = ops.ParkedEntry{ID: p.ID, Stream: p.Stream, EventID: p.EventID, EventType: p.EventType,
			AggregateID: p.AggregateID, Version: p.Version, Attempts: p.Attempts, Error: p.Error, Unreadable: p.Unmarshalable}
	}
	return out, nil
}

// Redrive puts the parked entries with these ids back on their streams.
func (q *ConsoleQueue) Redrive(ctx context.Context, ids []string) (int, error) {
	k, err := q.keys(ctx)
	if err != nil {
		return 0, err
	}
	return NewDeadLetters(q.client, k).Replay(ctx, ids)
}

// RedriveAll puts every entry parked now back on its stream.
func (q *ConsoleQueue) RedriveAll(ctx context.Context) (int, error) {
	k, err := q.keys(ctx)
	if err != nil {
		return 0, err
	}
	n, _, err := NewDeadLetters(q.client, k).ReplayAll(ctx)
	return n, err
}

// Drop removes the parked entries with these ids.
func (q *ConsoleQueue) Drop(ctx context.Context, ids []string) (int64, error) {
	return q.dead().Drop(ctx, ids)
}

// DropAll removes every entry parked now.
func (q *ConsoleQueue) DropAll(ctx context.Context) (int64, error) { return q.dead().DropAll(ctx) }

// Groups is every consumer group's lag and pending entries on every
// stream (XINFO GROUPS, one call per stream).
func (q *ConsoleQueue) Groups(ctx context.Context) ([]ops.GroupLag, error) {
	k, err := q.keys(ctx)
	if err != nil {
		return nil, err
	}
	var out []ops.GroupLag
	for _, stream := range k.EventStreams() {
		groups, err := q.client.XInfoGroups(ctx, stream).Result()
		if err != nil {
			if isNoSuchKey(err) {
				continue
			}
			return nil, fmt.Errorf("xinfo groups %s: %w", stream, err)
		}
		for _, g := range groups {
			out = append(out, ops.GroupLag{Stream: stream, Group: g.Name, Lag: g.Lag, Pending: g.Pending})
		}
	}
	return out, nil
}

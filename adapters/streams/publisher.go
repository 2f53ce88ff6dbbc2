package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/orderflow/orderflow/app/relay"
	"github.com/redis/go-redis/v9"
)

// publishBatch appends every entry and moves the checkpoint, only if the
// checkpoint is still where the caller read it: a second relay that believes
// it leads cannot publish the same events again. KEYS[1] is the checkpoint,
// KEYS[2..] the streams; ARGV: expected checkpoint, new checkpoint, MAXLEN,
// then per entry its stream's index in KEYS, its field count, and the fields.
var publishBatch = redis.NewScript(`
local cp = redis.call('GET', KEYS[1]) or '0:0'
if cp ~= ARGV[1] then return redis.error_reply('CHECKPOINT_MOVED ' .. cp) end
local maxlen = ARGV[3]
local i = 4
while i <= #ARGV do
  local stream = KEYS[tonumber(ARGV[i])]
  local n = tonumber(ARGV[i + 1])
  local args = {'XADD', stream, 'MAXLEN', '~', maxlen, '*'}
  for j = 1, n do args[#args + 1] = ARGV[i + 1 + j] end
  redis.call(unpack(args))
  i = i + 2 + n
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`)

// Publisher implements relay.EventPublisher on Redis Streams. With several
// stream shards each shard has its own checkpoint and is published by its
// own run of publishBatch, all or nothing per shard; see Publish.
type Publisher struct {
	client     redis.UniversalClient
	keys       Keys
	maxLen     int64
	marshaller redisstream.Marshaller

	mu sync.Mutex
	// shardCPs are the shard checkpoints as this publisher last wrote them;
	// nil after a failure or before the first publish, when they are read.
	shardCPs []relay.LogPosition
}

// NewPublisher returns a publisher whose streams keep about maxLen entries
// each (approximate MAXLEN trimming).
func NewPublisher(client redis.UniversalClient, keys Keys, maxLen int64) *Publisher {
	return &Publisher{client: client, keys: keys, maxLen: maxLen, marshaller: redisstream.DefaultMarshallerUnmarshaller{}}
}

// Checkpoint reads the position up to which every shard has its events:
// the lowest shard checkpoint. A relay that stopped between shards resumes
// there; the shards that were further skip what they already hold.
func (p *Publisher) Checkpoint(ctx context.Context) (relay.LogPosition, error) {
	cps, err := p.readShardCheckpoints(ctx)
	if err != nil {
		return relay.LogPosition{}, err
	}
	return slices.MinFunc(cps, comparePositions), nil
}

func comparePositions(a, b relay.LogPosition) int {
	switch {
	case a.After(b):
		return 1
	case b.After(a):
		return -1
	}
	return 0
}

// readShardCheckpoints reads every shard's checkpoint (one pipeline; on a
// cluster go-redis sends each GET to its shard's master).
func (p *Publisher) readShardCheckpoints(ctx context.Context) ([]relay.LogPosition, error) {
	n := p.keys.Shards()
	if n == 1 {
		s, err := p.client.Get(ctx, p.keys.ShardCheckpoint(0)).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read relay checkpoint: %w", err)
		}
		cp, err := relay.ParseLogPosition(s)
		return []relay.LogPosition{cp}, err
	}
	pipe := p.client.Pipeline()
	cmds := make([]*redis.StringCmd, n)
	for shard := range n {
		cmds[shard] = pipe.Get(ctx, p.keys.ShardCheckpoint(shard))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read relay checkpoints: %w", err)
	}
	out := make([]relay.LogPosition, n)
	for shard, cmd := range cmds {
		s, err := cmd.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read relay checkpoint of shard %d: %w", shard, err)
		}
		if out[shard], err = relay.ParseLogPosition(s); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Publish appends the events to their aggregates' streams and moves the
// checkpoints, never twice. Each shard gets its events after its own
// checkpoint and its checkpoint moves to the batch's last position, in one
// script per shard: all or nothing per shard, and a shard whose checkpoint
// is not where this publisher saw it last refuses (another relay
// published), which fails the whole call with relay.ErrCheckpointMoved. A
// failure between shards leaves some shards ahead; Checkpoint then reports
// the lowest, and the shards ahead skip the events they hold.
func (p *Publisher) Publish(ctx context.Context, from relay.LogPosition, events []relay.CommittedEvent) error {
	if len(events) == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	cps := p.shardCPs
	p.shardCPs = nil // restored below only if every shard succeeds
	if cps == nil {
		var err error
		if cps, err = p.readShardCheckpoints(ctx); err != nil {
			return err
		}
	}
	if low := slices.MinFunc(cps, comparePositions); low != from {
		return fmt.Errorf("%w: publishing from %s, shards are from %s", relay.ErrCheckpointMoved, from, low)
	}
	last := events[len(events)-1].At
	batches := make([][]relay.CommittedEvent, len(cps))
	for _, e := range events {
		shard := p.keys.StreamShard(e.AggregateID)
		if e.At.After(cps[shard]) {
			batches[shard] = append(batches[shard], e)
		}
	}
	errs := make([]error, len(cps))
	var wg sync.WaitGroup
	for shard := range cps {
		if !last.After(cps[shard]) {
			continue // the shard already holds all of this batch
		}
		wg.Go(func() { errs[shard] = p.publishShard(ctx, shard, cps[shard], last, batches[shard]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	next := make([]relay.LogPosition, len(cps))
	for shard, cp := range cps {
		next[shard] = cp
		if last.After(cp) {
			next[shard] = last
		}
	}
	p.shardCPs = next
	return nil
}

// publishShard appends one shard's events and moves its checkpoint from
// `from` to `to`, in one script on the shard's slot.
func (p *Publisher) publishShard(ctx context.Context, shard int, from, to relay.LogPosition, events []relay.CommittedEvent) error {
	keys := []string{p.keys.ShardCheckpoint(shard)}
	streamIndex := map[string]int{}
	args := []any{from.String(), to.String(), p.maxLen}
	for _, e := range events {
		stream := p.keys.ShardEventStream(e.AggregateType, shard)
		idx, ok := streamIndex[stream]
		if !ok {
			keys = append(keys, stream)
			idx = len(keys)
			streamIndex[stream] = idx
		}
		fields, err := p.marshaller.Marshal(stream, Message(e))
		if err != nil {
			return fmt.Errorf("marshal event %s: %w", e.EventID, err)
		}
		args = append(args, idx, 2*len(fields))
		for name, value := range fields {
			args = append(args, name, value)
		}
	}
	err := publishBatch.Run(ctx, p.client, keys, args...).Err()
	if err != nil {
		if msg := err.Error(); strings.HasPrefix(msg, "CHECKPOINT_MOVED") {
			return fmt.Errorf("%w: shard %d: %s", relay.ErrCheckpointMoved, shard, msg)
		}
		return fmt.Errorf("publish %d events to shard %d: %w", len(events), shard, err)
	}
	return nil
}

// Message is an event as a Watermill message: UUID = event id, payload = the
// event's JSON, and the envelope in metadata.
func Message(e relay.CommittedEvent) *message.Message {
	msg := message.NewMessage(e.EventID, e.Data)
	msg.Metadata = message.Metadata{
		MetaEventType:      e.Type,
		MetaSchemaVersion:  strconv.Itoa(e.SchemaVersion),
		MetaAggregateType:  e.AggregateType,
		MetaAggregateID:    e.AggregateID,
		MetaVersion:        strconv.FormatInt(e.Version, 10),
		MetaGlobalPosition: strconv.FormatInt(e.GlobalPosition, 10),
		MetaTxID:           strconv.FormatUint(e.At.TxID, 10),
		MetaOccurredAt:     e.OccurredAt.UTC().Format(time.RFC3339Nano),
		MetaCorrelationID:  e.Metadata.CorrelationID,
		MetaCausationID:    e.Metadata.CausationID,
		MetaActor:          e.Metadata.Actor,
	}
	return msg
}

// ErrStreamShardsMismatch means the streams were written with another
// shard count than this binary's: aggregates would map to other shards and
// per-aggregate order would break, so the binary must not start.
var ErrStreamShardsMismatch = errors.New("stream shard count differs from the one the streams were written with")

// AwaitStreamShards runs CheckStreamShards until Redis answers: a binary
// may start before Redis, as it may outlive an outage. A mismatch or the end
// of ctx ends the wait with an error.
func AwaitStreamShards(ctx context.Context, logger *slog.Logger, client redis.UniversalClient, keys Keys) error {
	backoff := 100 * time.Millisecond
	for {
		err := CheckStreamShards(ctx, client, keys)
		if err == nil || errors.Is(err, ErrStreamShardsMismatch) {
			return err
		}
		logger.Warn("cannot check the stream shard count yet; retrying", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// CheckStreamShards records the keyspace's shard count in Redis on first
// use and fails with ErrStreamShardsMismatch when another count is recorded.
// Every binary that reads or writes the streams calls it at start.
func CheckStreamShards(ctx context.Context, client redis.UniversalClient, keys Keys) error {
	want := keys.Shards()
	key := keys.StreamShardsKey()
	if err := client.SetNX(ctx, key, want, 0).Err(); err != nil {
		return fmt.Errorf("record stream shard count: %w", err)
	}
	got, err := client.Get(ctx, key).Int()
	if err != nil {
		return fmt.Errorf("read stream shard count %s: %w", key, err)
	}
	if got != want {
		return fmt.Errorf("%w: configured %d, %s holds %d (see docs/adr/0011-redis-cluster.md to change it)", ErrStreamShardsMismatch, want, key, got)
	}
	return nil
}

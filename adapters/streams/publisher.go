package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app"
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

// Publisher implements app.EventPublisher on Redis Streams.
type Publisher struct {
	client     redis.UniversalClient
	keys       app.Keyspace
	maxLen     int64
	marshaller redisstream.Marshaller
}

// NewPublisher returns a publisher whose streams keep about maxLen entries
// each (approximate MAXLEN trimming).
func NewPublisher(client redis.UniversalClient, keys app.Keyspace, maxLen int64) *Publisher {
	return &Publisher{client: client, keys: keys, maxLen: maxLen, marshaller: redisstream.DefaultMarshallerUnmarshaller{}}
}

// Checkpoint reads the position of the last published event.
func (p *Publisher) Checkpoint(ctx context.Context) (app.LogPosition, error) {
	s, err := p.client.Get(ctx, p.keys.RelayCheckpoint()).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return app.LogPosition{}, fmt.Errorf("read relay checkpoint: %w", err)
	}
	return app.ParseLogPosition(s)
}

// Publish appends the events to their aggregate types' streams and moves
// the checkpoint, in one script: all or nothing, and never twice.
func (p *Publisher) Publish(ctx context.Context, from app.LogPosition, events []app.CommittedEvent) error {
	if len(events) == 0 {
		return nil
	}
	keys := []string{p.keys.RelayCheckpoint()}
	streamIndex := map[string]int{}
	args := []any{from.String(), events[len(events)-1].At.String(), p.maxLen}
	for _, e := range events {
		stream := p.keys.EventStream(e.AggregateType)
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
		if msg := err.Error(); len(msg) >= 16 && msg[:16] == "CHECKPOINT_MOVED" {
			return fmt.Errorf("%w: %s", app.ErrCheckpointMoved, msg)
		}
		return fmt.Errorf("publish %d events: %w", len(events), err)
	}
	return nil
}

// Message is an event as a Watermill message: UUID = event id, payload = the
// event's JSON, and the envelope in metadata.
func Message(e app.CommittedEvent) *message.Message {
	msg := message.NewMessage(e.EventID, e.Data)
	msg.Metadata = message.Metadata{
		app.MetaEventType:      e.Type,
		app.MetaSchemaVersion:  strconv.Itoa(e.SchemaVersion),
		app.MetaAggregateType:  e.AggregateType,
		app.MetaAggregateID:    e.AggregateID,
		app.MetaVersion:        strconv.FormatInt(e.Version, 10),
		app.MetaGlobalPosition: strconv.FormatInt(e.GlobalPosition, 10),
		app.MetaTxID:           strconv.FormatUint(e.At.TxID, 10),
		app.MetaOccurredAt:     e.OccurredAt.UTC().Format(time.RFC3339Nano),
		app.MetaCorrelationID:  e.Metadata.CorrelationID,
		app.MetaCausationID:    e.Metadata.CausationID,
		app.MetaActor:          e.Metadata.Actor,
	}
	return msg
}

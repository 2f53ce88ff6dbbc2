package streams

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app"
)

// ReplaySource reads every event stream from its first entry for a replay;
// it implements app.ReplaySource. Entries it cannot read are counted and
// skipped: the live projectors park them.
type ReplaySource struct {
	client     redis.UniversalClient
	keys       app.Keyspace
	codec      *app.EventCodec
	Unreadable int
}

// NewReplaySource returns a source over the streams of keys.
func NewReplaySource(client redis.UniversalClient, keys app.Keyspace) *ReplaySource {
	return &ReplaySource{client: client, keys: keys, codec: app.NewEventCodec()}
}

// Name implements app.ReplaySource.
func (s *ReplaySource) Name() string { return "streams" }

// Estimate sums the streams' lengths.
func (s *ReplaySource) Estimate(ctx context.Context) (int64, error) {
	var n int64
	for _, stream := range s.keys.EventStreams() {
		l, err := s.client.XLen(ctx, stream).Result()
		if err != nil {
			return 0, err
		}
		n += l
	}
	return n, nil
}

// Read returns up to limit entries of each stream after the cursor, which
// holds the last entry id read per stream. Streams are independent: an
// aggregate's events are all in its type's stream.
func (s *ReplaySource) Read(ctx context.Context, cursor string, limit int) ([]app.RecordedEvent, string, error) {
	last := map[string]string{}
	if cursor != "" {
		if err := json.Unmarshal([]byte(cursor), &last); err != nil {
			return nil, "", fmt.Errorf("replay cursor: %w", err)
		}
	}
	var out []app.RecordedEvent
	for _, stream := range s.keys.EventStreams() {
		start := "-"
		if id, ok := last[stream]; ok {
			start = "(" + id
		}
		entries, err := s.client.XRangeN(ctx, stream, start, "+", int64(limit)).Result()
		if err != nil {
			return nil, "", fmt.Errorf("read %s: %w", stream, err)
		}
		for _, e := range entries {
			last[stream] = e.ID
			msg, err := redisstream.DefaultMarshallerUnmarshaller{}.Unmarshal(e.Values)
			if err != nil {
				s.Unreadable++
				continue
			}
			r, err := s.codec.DecodeStreamEvent(msg.UUID, msg.Metadata.Get, msg.Payload)
			if err != nil {
				s.Unreadable++
				continue
			}
			out = append(out, r)
		}
	}
	next, err := json.Marshal(last)
	return out, string(next), err
}

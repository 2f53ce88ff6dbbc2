package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/projections"
)

// ReplaySource reads every event stream from its first entry for a replay;
// it implements projections.ReplaySource. Entries it cannot read are counted and
// skipped: the live projectors park them. An entry of a schema newer than
// this build reads fails the replay instead (app.ErrSchemaTooNew).
//
// A trimmed stream can lose every event of its oldest aggregates, which
// leaves no gap in any version the replay sees: the rebuilt projections
// would silently lack them. So the source asks the event store whether an
// aggregate of the stream's type and shard was created before the
// stream's first entry (then the stream lost its head), and at the end
// whether Redis deleted any entry from the stream since that first entry
// (XDEL, or trimming while the replay read). Either fails with
// projections.ErrReplayGap, and the replay reads the event store instead.
type ReplaySource struct {
	client     redis.UniversalClient
	keys       Keys
	log        projections.CreationLog
	codec      *app.EventCodec
	Unreadable int
}

// NewReplaySource returns a source over the streams of keys; log is the
// event store they were published from.
func NewReplaySource(client redis.UniversalClient, keys Keys, log projections.CreationLog) *ReplaySource {
	return &ReplaySource{client: client, keys: keys, log: log, codec: app.NewEventCodec()}
}

// Name implements projections.ReplaySource.
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

// replayStream is one stream with the aggregate type and shard it carries.
type replayStream struct {
	key           string
	aggregateType string
	shard         int
}

func (s *ReplaySource) streams() []replayStream {
	var out []replayStream
	for shard := range s.keys.Shards() {
		for _, t := range AggregateTypes() {
			out = append(out, replayStream{key: s.keys.ShardEventStream(t, shard), aggregateType: t, shard: shard})
		}
	}
	return out
}

// replayCursor holds, per stream, the first and the last entry id read.
type replayCursor struct {
	First map[string]string `json:"first"`
	Last  map[string]string `json:"last"`
}

// Read returns up to limit entries of each stream after the cursor. Streams
// are independent: an aggregate's events are all in its type's stream.
func (s *ReplaySource) Read(ctx context.Context, cursor string, limit int) ([]app.RecordedEvent, string, error) {
	cur := replayCursor{First: map[string]string{}, Last: map[string]string{}}
	if cursor != "" {
		if err := json.Unmarshal([]byte(cursor), &cur); err != nil {
			return nil, "", fmt.Errorf("replay cursor: %w", err)
		}
	}
	var (
		out  []app.RecordedEvent
		read int
	)
	for _, stream := range s.streams() {
		start := "-"
		last, started := cur.Last[stream.key]
		if started {
			start = "(" + last
		}
		entries, err := s.client.XRangeN(ctx, stream.key, start, "+", int64(limit)).Result()
		if err != nil {
			return nil, "", fmt.Errorf("read %s: %w", stream.key, err)
		}
		if !started {
			// One XRANGE from "-": its first entry is the stream's head.
			if err := s.checkHead(ctx, stream, entries); err != nil {
				return nil, "", err
			}
			if len(entries) > 0 {
				cur.First[stream.key] = entries[0].ID
			}
		}
		read += len(entries)
		for _, e := range entries {
			cur.Last[stream.key] = e.ID
			msg, err := redisstream.DefaultMarshallerUnmarshaller{}.Unmarshal(e.Values)
			if err != nil {
				s.Unreadable++
				continue
			}
			r, err := DecodeEvent(s.codec, msg.UUID, msg.Metadata.Get, msg.Payload)
			if errors.Is(err, app.ErrSchemaTooNew) {
				// Not a broken entry: skipping it would build a generation
				// without an event that is fine. A newer build must replay.
				return nil, "", fmt.Errorf("replay: %w", err)
			}
			if err != nil {
				s.Unreadable++
				continue
			}
			out = append(out, r)
		}
	}
	if read == 0 {
		if err := s.checkNothingDeleted(ctx, cur.First); err != nil {
			return nil, "", err
		}
	}
	next, err := json.Marshal(cur)
	return out, string(next), err
}

// checkHead fails when the event store created an aggregate of the
// stream's type and shard before the stream's first entry (or, for an
// empty stream, at or before the relay's checkpoint): the relay published
// it there, and it is gone.
func (s *ReplaySource) checkHead(ctx context.Context, stream replayStream, entries []redis.XMessage) error {
	var (
		before relay.LogPosition
		head   string
	)
	for _, e := range entries {
		if at, ok := entryPosition(e); ok {
			before, head = at, fmt.Sprintf("begins at log position %s (entry %s)", at, e.ID)
			break
		}
	}
	if head == "" {
		if len(entries) > 0 {
			return nil // nothing readable to place it in the log; the live projectors park such entries
		}
		raw, err := s.client.Get(ctx, s.keys.ShardCheckpoint(stream.shard)).Result()
		if errors.Is(err, redis.Nil) {
			return nil // nothing relayed to this shard yet
		}
		if err != nil {
			return fmt.Errorf("read relay checkpoint: %w", err)
		}
		cp, err := relay.ParseLogPosition(raw)
		if err != nil {
			return err
		}
		before, head = relay.LogPosition{TxID: cp.TxID, Position: cp.Position + 1}, "is empty although the relay published up to "+cp.String()
	}
	id, at, found, err := s.log.FirstCreated(ctx, stream.aggregateType, before,
		func(id string) bool { return s.keys.StreamShard(id) == stream.shard })
	if err != nil {
		return fmt.Errorf("check %s against the event store: %w", stream.key, err)
	}
	if found {
		return fmt.Errorf("%w: %s %s, but %s %s was created before that, at %s: the stream lost its oldest entries (trimmed)",
			projections.ErrReplayGap, stream.key, head, stream.aggregateType, id, at)
	}
	return nil
}

// entryPosition is where an entry's event is in the log's commit order.
func entryPosition(e redis.XMessage) (relay.LogPosition, bool) {
	msg, err := redisstream.DefaultMarshallerUnmarshaller{}.Unmarshal(e.Values)
	if err != nil {
		return relay.LogPosition{}, false
	}
	tx, err := strconv.ParseUint(msg.Metadata.Get(MetaTxID), 10, 64)
	if err != nil {
		return relay.LogPosition{}, false
	}
	pos, err := strconv.ParseInt(msg.Metadata.Get(MetaGlobalPosition), 10, 64)
	if err != nil {
		return relay.LogPosition{}, false
	}
	return relay.LogPosition{TxID: tx, Position: pos}, true
}

// checkNothingDeleted fails when Redis deleted an entry at or after the
// first one the replay read from a stream: its event, and perhaps every
// event of an aggregate, was never read. Redis 7 reports the largest
// deleted id (max-deleted-entry-id); without it the check is skipped.
func (s *ReplaySource) checkNothingDeleted(ctx context.Context, first map[string]string) error {
	for stream, head := range first {
		info, err := s.client.XInfoStream(ctx, stream).Result()
		if err != nil {
			if strings.Contains(err.Error(), "no such key") {
				return fmt.Errorf("%w: %s vanished while the replay read it", projections.ErrReplayGap, stream)
			}
			return fmt.Errorf("inspect %s: %w", stream, err)
		}
		if info.MaxDeletedEntryID == "" {
			continue
		}
		deleted, err1 := parseEntryID(info.MaxDeletedEntryID)
		from, err2 := parseEntryID(head)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("inspect %s: %w", stream, err)
		}
		if !deleted.before(from) {
			return fmt.Errorf("%w: %s had entries up to %s deleted, after its first entry %s (XDEL, or trimmed while the replay read it)",
				projections.ErrReplayGap, stream, info.MaxDeletedEntryID, head)
		}
	}
	return nil
}

// entryID is a stream entry id, milliseconds and sequence.
type entryID struct{ ms, seq uint64 }

func (a entryID) before(b entryID) bool { return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq) }

func parseEntryID(s string) (entryID, error) {
	ms, seq, ok := strings.Cut(s, "-")
	var (
		id   entryID
		err1 error
		err2 error
	)
	if ok {
		id.ms, err1 = strconv.ParseUint(ms, 10, 64)
		id.seq, err2 = strconv.ParseUint(seq, 10, 64)
	}
	if !ok || err1 != nil || err2 != nil {
		return entryID{}, fmt.Errorf("stream entry id %q", s)
	}
	return id, nil
}

package streams

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/redis/go-redis/v9"
)

// ParkedEntry is an entry of the dead-letter stream.
type ParkedEntry struct {
	ID            string `json:"id"`
	Stream        string `json:"stream"`
	EventID       string `json:"eventId"`
	EventType     string `json:"eventType,omitempty"`
	AggregateID   string `json:"aggregateId,omitempty"`
	Version       string `json:"version,omitempty"`
	Position      string `json:"globalPosition,omitempty"`
	Attempts      string `json:"attempts"`
	Error         string `json:"error"`
	Unmarshalable bool   `json:"unreadable,omitempty"`
}

// DeadLetters inspects and re-drives the dead-letter stream.
type DeadLetters struct {
	client redis.UniversalClient
	keys   Keys
}

// NewDeadLetters returns the dead-letter stream of keys.
func NewDeadLetters(client redis.UniversalClient, keys Keys) *DeadLetters {
	return &DeadLetters{client: client, keys: keys}
}

// poisonMetadata are the keys the poison queue and attempt counter add;
// re-driving an entry strips them.
var poisonMetadata = []string{
	middleware.ReasonForPoisonedKey, middleware.PoisonedTopicKey, middleware.PoisonedHandlerKey,
	middleware.PoisonedSubscriberKey, MetaAttempts,
}

// List returns up to limit parked entries, oldest first.
func (d *DeadLetters) List(ctx context.Context, limit int64) ([]ParkedEntry, error) {
	entries, err := d.client.XRangeN(ctx, d.keys.DeadLetterStream(), "-", "+", limit).Result()
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	out := make([]ParkedEntry, 0, len(entries))
	for _, e := range entries {
		msg, err := redisstream.DefaultMarshallerUnmarshaller{}.Unmarshal(e.Values)
		if err != nil {
			out = append(out, ParkedEntry{ID: e.ID, Error: "unreadable dead letter: " + err.Error()})
			continue
		}
		m := msg.Metadata
		out = append(out, ParkedEntry{
			ID: e.ID, Stream: m.Get(middleware.PoisonedTopicKey), EventID: msg.UUID,
			EventType: m.Get(MetaEventType), AggregateID: m.Get(MetaAggregateID),
			Version: m.Get(MetaVersion), Position: m.Get(MetaGlobalPosition),
			Attempts: m.Get(MetaAttempts), Error: m.Get(middleware.ReasonForPoisonedKey),
			Unmarshalable: m.Get(MetaUnmarshalError) != "",
		})
	}
	return out, nil
}

// Len is the number of parked entries.
func (d *DeadLetters) Len(ctx context.Context) (int64, error) {
	return d.client.XLen(ctx, d.keys.DeadLetterStream()).Result()
}

// Replay appends the parked entries with these ids back to the streams they
// came from, as they were before they failed, and removes them from the
// dead-letter stream. Projections are fenced, so an event applied twice
// changes nothing. An id that is not parked is skipped.
func (d *DeadLetters) Replay(ctx context.Context, ids []string) (int, error) {
	done := 0
	for _, id := range ids {
		entries, err := d.client.XRange(ctx, d.keys.DeadLetterStream(), id, id).Result()
		if err != nil {
			return done, fmt.Errorf("read dead letter %s: %w", id, err)
		}
		if len(entries) == 0 {
			continue
		}
		if err := d.replay(ctx, entries[0]); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

// deadLetterPage is how many parked entries ReplayAll and DropAll hold at
// once, so that their memory does not grow with the dead-letter stream.
const deadLetterPage = 500

// ReplayAll re-drives, as Replay does, every entry parked when it starts,
// oldest first, reading them a page at a time. Entries parked meanwhile,
// such as a re-driven entry that fails again, are left for the next run.
// It returns how many entries it re-drove and how many it found.
func (d *DeadLetters) ReplayAll(ctx context.Context) (replayed, found int, err error) {
	err = d.eachPage(ctx, func(page []redis.XMessage) error {
		found += len(page)
		for _, e := range page {
			if err := d.replay(ctx, e); err != nil {
				return err
			}
			replayed++
		}
		return nil
	})
	return replayed, found, err
}

// DropAll removes, as Drop does, every entry parked when it starts, a page
// at a time; entries parked meanwhile stay. It returns how many it removed.
func (d *DeadLetters) DropAll(ctx context.Context) (int64, error) {
	var dropped int64
	err := d.eachPage(ctx, func(page []redis.XMessage) error {
		ids := make([]string, len(page))
		for i, e := range page {
			ids[i] = e.ID
		}
		n, err := d.Drop(ctx, ids)
		dropped += n
		return err
	})
	return dropped, err
}

// eachPage hands each page of the entries parked up to now, oldest first,
// to do. It bounds the range by the newest entry at the start, so a run
// that parks entries again (or a projector parking new ones) ends.
func (d *DeadLetters) eachPage(ctx context.Context, do func(page []redis.XMessage) error) error {
	stream := d.keys.DeadLetterStream()
	newest, err := d.client.XRevRangeN(ctx, stream, "+", "-", 1).Result()
	if err != nil {
		return fmt.Errorf("read dead letters: %w", err)
	}
	if len(newest) == 0 {
		return nil
	}
	for from, last := "-", newest[0].ID; ; {
		page, err := d.client.XRangeN(ctx, stream, from, last, deadLetterPage).Result()
		if err != nil {
			return fmt.Errorf("read dead letters: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		if err := do(page); err != nil {
			return err
		}
		if len(page) < deadLetterPage || page[len(page)-1].ID == last {
			return nil
		}
		from = "(" + page[len(page)-1].ID
	}
}

// replay re-drives one parked entry and removes it.
func (d *DeadLetters) replay(ctx context.Context, e redis.XMessage) error {
	id := e.ID
	msg, err := redisstream.DefaultMarshallerUnmarshaller{}.Unmarshal(e.Values)
	if err != nil {
		return fmt.Errorf("dead letter %s: %w", id, err)
	}
	stream := msg.Metadata.Get(middleware.PoisonedTopicKey)
	var values map[string]any
	if msg.Metadata.Get(MetaUnmarshalError) != "" {
		// The original entry's raw fields were kept as the payload.
		if err := json.Unmarshal(msg.Payload, &values); err != nil {
			return fmt.Errorf("dead letter %s: raw entry: %w", id, err)
		}
	} else {
		for _, k := range poisonMetadata {
			delete(msg.Metadata, k)
		}
		if values, err = (redisstream.DefaultMarshallerUnmarshaller{}).Marshal(stream, msg); err != nil {
			return fmt.Errorf("dead letter %s: %w", id, err)
		}
	}
	if err := d.redrive(ctx, stream, values, id); err != nil {
		return fmt.Errorf("re-drive dead letter %s: %w", id, err)
	}
	return nil
}

// redrive appends values to stream and deletes the parked entry. With one
// stream shard both keys share {events} and go in one MULTI; a shard's
// stream sits in another slot, where a MULTI spanning both would be refused
// (CROSSSLOT), so the entry is appended first and deleted after: a crash in
// between leaves it parked, and re-driving it again only repeats an event
// the fenced projections ignore.
func (d *DeadLetters) redrive(ctx context.Context, stream string, values map[string]any, id string) error {
	if d.keys.Shards() == 1 {
		_, err := d.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: values})
			p.XDel(ctx, d.keys.DeadLetterStream(), id)
			return nil
		})
		return err
	}
	if err := d.client.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: values}).Err(); err != nil {
		return err
	}
	return d.client.XDel(ctx, d.keys.DeadLetterStream(), id).Err()
}

// Drop removes parked entries for good.
func (d *DeadLetters) Drop(ctx context.Context, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	return d.client.XDel(ctx, d.keys.DeadLetterStream(), ids...).Result()
}

// GroupLag is a consumer group's position on one stream.
type GroupLag struct {
	Stream  string
	Lag     int64
	Pending int64
}

// ConsumerLag reads the group's lag and pending entries on every event
// stream (XINFO GROUPS); a stream or group not created yet is skipped.
func ConsumerLag(ctx context.Context, client redis.UniversalClient, keys Keys, group string) ([]GroupLag, error) {
	var out []GroupLag
	for _, stream := range keys.EventStreams() {
		groups, err := client.XInfoGroups(ctx, stream).Result()
		if err != nil {
			if isNoSuchKey(err) {
				continue
			}
			return nil, fmt.Errorf("xinfo groups %s: %w", stream, err)
		}
		for _, g := range groups {
			if g.Name == group {
				out = append(out, GroupLag{Stream: stream, Lag: g.Lag, Pending: g.Pending})
			}
		}
	}
	return out, nil
}

func isNoSuchKey(err error) bool {
	return err != nil && (err.Error() == "ERR no such key" || redis.HasErrorPrefix(err, "ERR no such key"))
}

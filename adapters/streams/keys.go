package streams

import (
	"hash/crc32"
	"strconv"
)

// Keys names the Redis keys of the event streams: every stream, the relay's
// checkpoints, the shard count and the dead-letter stream, under the same
// instance prefix as the cache's keys.
type Keys struct {
	Prefix string
	// StreamShards is the number of event stream shards (0 means 1); every
	// binary sharing the prefix must use the same.
	StreamShards int
}

// Event streams are split into Keys.StreamShards shards; an aggregate's
// events all go to one shard (StreamShard) and, within it, to its type's
// stream, in commit order. A shard's streams and its relay checkpoint share
// one hash tag ({events} for shard 0, {events:N} for shard N), so the
// relay's script that appends to a shard's streams and moves its checkpoint
// touches one Redis Cluster slot, while different shards can sit on
// different masters. With one shard the keys are those of a build without
// shards.

// Shards is the number of stream shards, at least 1.
func (k Keys) Shards() int { return max(k.StreamShards, 1) }

// AggregateTypes lists the aggregate types that have event streams.
func AggregateTypes() []string { return []string{"product", "customer", "order"} }

// StreamShard is the shard of an aggregate's events: the CRC-32 (IEEE) of
// its id modulo the shard count, so every binary agrees without
// coordination. (FNV-1a would not do: its low bits depend only on the low
// bits of each byte, so a modulus of 4 spreads ids over 2 shards.)
func (k Keys) StreamShard(aggregateID string) int {
	n := k.Shards()
	if n == 1 {
		return 0
	}
	return int(crc32.ChecksumIEEE([]byte(aggregateID)) % uint32(n))
}

// eventsTag is the hash tag of one shard's streams and checkpoint.
func (k Keys) eventsTag(shard int) string {
	if shard == 0 {
		return k.Prefix + "{events}"
	}
	return k.Prefix + "{events:" + strconv.Itoa(shard) + "}"
}

// ShardEventStream is the Redis stream of one aggregate type in one shard.
func (k Keys) ShardEventStream(aggregateType string, shard int) string {
	return k.eventsTag(shard) + ":stream:" + aggregateType
}

// EventStream is shard 0's stream of an aggregate type: with one shard,
// the stream carrying every event of that type.
func (k Keys) EventStream(aggregateType string) string {
	return k.ShardEventStream(aggregateType, 0)
}

// AggregateEventStream is the stream carrying one aggregate's events.
func (k Keys) AggregateEventStream(aggregateType, aggregateID string) string {
	return k.ShardEventStream(aggregateType, k.StreamShard(aggregateID))
}

// EventStreams lists the streams of every aggregate type in every shard.
func (k Keys) EventStreams() []string {
	var out []string
	for shard := range k.Shards() {
		for _, t := range AggregateTypes() {
			out = append(out, k.ShardEventStream(t, shard))
		}
	}
	return out
}

// ShardCheckpoint is the Redis key of the relay's position in the log for
// one shard: every event up to it that maps to the shard is on its streams.
func (k Keys) ShardCheckpoint(shard int) string { return k.eventsTag(shard) + ":relay:checkpoint" }

// RelayCheckpoint is shard 0's checkpoint: with one shard, the relay's
// position in the log.
func (k Keys) RelayCheckpoint() string { return k.ShardCheckpoint(0) }

// StreamShardsKey records the shard count the streams were written with,
// so a binary configured with another count refuses to start.
func (k Keys) StreamShardsKey() string { return k.eventsTag(0) + ":stream-shards" }

// DeadLetterStream is where entries a projector cannot apply are parked;
// there is one for all shards (parking is rare, order does not matter).
func (k Keys) DeadLetterStream() string { return k.eventsTag(0) + ":dead-letter" }

package streams_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/adapters/streams"
)

// hashTag is the part of a key Redis Cluster hashes: the first {...} with
// something inside, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// A shard's streams and its checkpoint share a tag; shards differ; an
// aggregate always maps to the same shard; one shard keeps the old names.
func TestStreamShardsKeepAShardOnOneSlot(t *testing.T) {
	one := streams.Keys{Prefix: "orderflow:"}
	if one.EventStream("order") != "orderflow:{events}:stream:order" || one.RelayCheckpoint() != "orderflow:{events}:relay:checkpoint" {
		t.Errorf("one shard renamed the keys: %s, %s", one.EventStream("order"), one.RelayCheckpoint())
	}
	if n := len(one.EventStreams()); n != 3 {
		t.Errorf("one shard: %d streams, want 3", n)
	}
	four := streams.Keys{Prefix: "orderflow:", StreamShards: 4}
	if n := len(four.EventStreams()); n != 12 {
		t.Errorf("four shards: %d streams, want 12", n)
	}
	tags := map[string]bool{}
	for shard := range four.Shards() {
		tag := hashTag(four.ShardCheckpoint(shard))
		tags[tag] = true
		for _, typ := range streams.AggregateTypes() {
			if got := hashTag(four.ShardEventStream(typ, shard)); got != tag {
				t.Errorf("shard %d: %s stream tag %q, checkpoint tag %q", shard, typ, got, tag)
			}
		}
	}
	if len(tags) != 4 {
		t.Errorf("4 shards use %d hash tags", len(tags))
	}
	used := map[int]bool{}
	for i := range 100 {
		id := fmt.Sprintf("01a2154e-445e-75c6-9cff-4c3b0983%04d", i)
		s := four.StreamShard(id)
		if s != four.StreamShard(id) || s < 0 || s >= 4 {
			t.Fatalf("StreamShard(%q) = %d, unstable or out of range", id, s)
		}
		used[s] = true
	}
	if len(used) != 4 {
		t.Errorf("100 aggregates map to %d of 4 shards", len(used))
	}
}

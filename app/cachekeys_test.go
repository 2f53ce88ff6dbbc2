package app_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/app"
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

// An entry, its tombstone (the same key) and its lease share a slot in
// every generation, different entities of a family do not share a tag, and
// every read-model key parses back to itself.
func TestCacheKeysShareASlotWithTheirLease(t *testing.T) {
	keys := app.Keyspace{Prefix: "orderflow:"}
	for _, tc := range []struct {
		key      app.CacheKey
		tag, arg string
		parses   bool
	}{
		{app.ProductKey("p-1"), "p-1", "p-1", true},
		{app.ProductSKUKey("AbC-9"), "abc-9", "abc-9", true},
		{app.ProductListKey(), "list", "", true},
		{app.CustomerKey("c-1"), "c-1", "c-1", true},
		{app.CustomerOrdersKey("c-1"), "c-1", "c-1", true},
		{app.OutputKey("GET", "/public/products/p-1"), "GET:/public/products/p-1", "", false},
		{app.ProductKey("odd}id{"), "odd", "odd}id{", true},
	} {
		for _, gen := range []string{"", "g20261126"} {
			entry, lease := keys.Key(gen, tc.key), keys.Lease(gen, tc.key)
			if hashTag(entry) != tc.tag || hashTag(lease) != tc.tag {
				t.Errorf("%s: entry %s and lease %s hash on %q and %q, want %q", tc.key.Name, entry, lease, hashTag(entry), hashTag(lease), tc.tag)
			}
		}
		key, arg, ok := app.ParseCacheKey(tc.key.Name)
		if ok != tc.parses || ok && (key != tc.key || arg != tc.arg) {
			t.Errorf("ParseCacheKey(%s) = %+v %q %v", tc.key.Name, key, arg, ok)
		}
		if _, _, ok := app.ParseCacheKey(tc.key.Name + ":lease"); ok {
			t.Errorf("ParseCacheKey parses the lease of %s", tc.key.Name)
		}
	}
	if hashTag(keys.Key("", app.ProductKey("a"))) == hashTag(keys.Key("", app.ProductKey("b"))) {
		t.Error("two products share a hash tag")
	}
	if hashTag(keys.Generation()) != hashTag(keys.NextGeneration()) {
		t.Error("the generation pointers are in different slots; one MGET reads both")
	}
}

// A shard's streams and its checkpoint share a tag; shards differ; an
// aggregate always maps to the same shard; one shard keeps the old names.
func TestStreamShardsKeepAShardOnOneSlot(t *testing.T) {
	one := app.Keyspace{Prefix: "orderflow:"}
	if one.EventStream("order") != "orderflow:{events}:stream:order" || one.RelayCheckpoint() != "orderflow:{events}:relay:checkpoint" {
		t.Errorf("one shard renamed the keys: %s, %s", one.EventStream("order"), one.RelayCheckpoint())
	}
	if n := len(one.EventStreams()); n != 3 {
		t.Errorf("one shard: %d streams, want 3", n)
	}
	four := app.Keyspace{Prefix: "orderflow:", StreamShards: 4}
	if n := len(four.EventStreams()); n != 12 {
		t.Errorf("four shards: %d streams, want 12", n)
	}
	tags := map[string]bool{}
	for shard := range four.Shards() {
		tag := hashTag(four.ShardCheckpoint(shard))
		tags[tag] = true
		for _, typ := range app.AggregateTypes() {
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

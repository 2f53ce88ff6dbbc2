package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

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

// The TTL table of the README: each family's TTL, and every TTL written
// shortened at random by up to 10 %, so keys written together do not
// expire together.
func TestCacheFamilyTTLs(t *testing.T) {
	want := map[app.CacheFamily]time.Duration{
		app.FamilyProduct:        30 * time.Minute,
		app.FamilyProductBySKU:   30 * time.Minute,
		app.FamilyProductList:    5 * time.Minute,
		app.FamilyCustomer:       60 * time.Minute,
		app.FamilyCustomerOrders: 2 * time.Minute,
		app.FamilyOutput:         5 * time.Minute,
	}
	if got := app.CacheFamilies(); len(got) != len(want) {
		t.Fatalf("CacheFamilies() = %v, want the %d families of the table", got, len(want))
	}
	const samples = 1000
	for _, f := range app.CacheFamilies() {
		ttl, ok := want[f]
		if !ok {
			t.Errorf("family %q is not in the TTL table", f)
			continue
		}
		if got := f.TTL(); got != ttl {
			t.Errorf("%s: TTL %s, want %s", f, got, ttl)
		}
		// A draw below 0.92·TTL and one above 0.98·TTL are each missed by
		// 1000 uniform draws with probability 0.8^1000: a jitter of less
		// than the whole 10 % cannot pass.
		lowest, highest := ttl, ttl*9/10
		seen := map[time.Duration]bool{}
		for range samples {
			d := f.JitteredTTL()
			if d < ttl*9/10 || d > ttl {
				t.Fatalf("%s: jittered TTL %s outside [%s, %s]", f, d, ttl*9/10, ttl)
			}
			lowest, highest = min(lowest, d), max(highest, d)
			seen[d] = true
		}
		if len(seen) < samples/2 {
			t.Errorf("%s: %d distinct TTLs in %d draws", f, len(seen), samples)
		}
		if lowest > ttl*92/100 || highest < ttl*98/100 {
			t.Errorf("%s: jittered TTLs span [%s, %s], want about [%s, %s]", f, lowest, highest, ttl*9/10, ttl)
		}
	}
}

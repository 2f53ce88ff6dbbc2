package cache_test

import (
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/app/cache"
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
	keys := cache.Keyspace{Prefix: "orderflow:"}
	for _, tc := range []struct {
		key      cache.Key
		tag, arg string
		parses   bool
	}{
		{cache.ProductKey("p-1"), "p-1", "p-1", true},
		{cache.ProductSKUKey("AbC-9"), "abc-9", "abc-9", true},
		{cache.ProductListKey(), "list", "", true},
		{cache.CustomerKey("c-1"), "c-1", "c-1", true},
		{cache.CustomerOrdersKey("c-1"), "c-1", "c-1", true},
		{cache.OutputKey(cache.ProductsTag, "GET", "/public/products/p-1"), cache.ProductsTag, "", false},
		{cache.StockKey("p-1"), "p-1", "", false},
		{cache.ProductKey("odd}id{"), "odd", "odd}id{", true},
	} {
		for _, gen := range []string{"", "g20261126"} {
			entry, lease := keys.Key(gen, tc.key), keys.Lease(gen, tc.key)
			if hashTag(entry) != tc.tag || hashTag(lease) != tc.tag {
				t.Errorf("%s: entry %s and lease %s hash on %q and %q, want %q", tc.key.Name, entry, lease, hashTag(entry), hashTag(lease), tc.tag)
			}
		}
		key, arg, ok := cache.ParseKey(tc.key.Name)
		if ok != tc.parses || ok && (key != tc.key || arg != tc.arg) {
			t.Errorf("ParseKey(%s) = %+v %q %v", tc.key.Name, key, arg, ok)
		}
		if _, _, ok := cache.ParseKey(tc.key.Name + ":lease"); ok {
			t.Errorf("ParseKey parses the lease of %s", tc.key.Name)
		}
	}
	if hashTag(keys.Key("", cache.ProductKey("a"))) == hashTag(keys.Key("", cache.ProductKey("b"))) {
		t.Error("two products share a hash tag")
	}
	if out := keys.Key("g1", cache.OutputKey(cache.ProductsTag, "GET", "/x")); hashTag(out) != hashTag(keys.TagVersion("g1", cache.ProductsTag)) {
		t.Errorf("output entry %s and its tag version %s are in different slots; one script reads both", out, keys.TagVersion("g1", cache.ProductsTag))
	}
	if hashTag(keys.Generation()) != hashTag(keys.NextGeneration()) {
		t.Error("the generation pointers are in different slots; one MGET reads both")
	}
}

// The TTL table of the README: each family's TTL and sliding window, and
// every life a write gives (the window when there is one) shortened at
// random by up to 10 %, so keys written together do not expire together.
func TestCacheFamilyTTLs(t *testing.T) {
	want := map[cache.Family]cache.Expiry{
		cache.FamilyProduct:        {TTL: 30 * time.Minute},
		cache.FamilyProductBySKU:   {TTL: 30 * time.Minute},
		cache.FamilyProductList:    {TTL: 5 * time.Minute},
		cache.FamilyCustomer:       {TTL: 60 * time.Minute, Sliding: 15 * time.Minute},
		cache.FamilyCustomerOrders: {TTL: 2 * time.Minute},
		cache.FamilyOutput:         {TTL: 5 * time.Minute},
		cache.FamilyStock:          {TTL: cache.MaxStockTTL},
	}
	if got := cache.Families(); len(got) != len(want) {
		t.Fatalf("Families() = %v, want the %d families of the table", got, len(want))
	}
	const samples = 1000
	for _, f := range cache.Families() {
		exp, ok := want[f]
		if !ok {
			t.Errorf("family %q is not in the TTL table", f)
			continue
		}
		if got := f.Expiry(); got != exp {
			t.Errorf("%s: expiry %+v, want %+v", f, got, exp)
		}
		if got := f.TTL(); got != exp.TTL {
			t.Errorf("%s: TTL %s, want %s", f, got, exp.TTL)
		}
		ttl := exp.TTL
		if exp.Sliding > 0 {
			ttl = exp.Sliding
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

package cache

import (
	"math/rand/v2"
	"strings"
	"time"
)

// Family is a kind of cached read model; metrics and the TTL table are per family.
type Family string

// The cached read models.
const (
	FamilyProduct        Family = "product"
	FamilyProductBySKU   Family = "product_sku"
	FamilyProductList    Family = "product_list"
	FamilyCustomer       Family = "customer"
	FamilyCustomerOrders Family = "customer_orders"
	FamilyOutput         Family = "output"
	// FamilyStock is a product's stock level and aggregate version, cached
	// only when the deployment sets a stock TTL (ORDERFLOW_STOCK_TTL,
	// Config.StockTTL); otherwise product reads take them live.
	FamilyStock Family = "stock"
)

// Families lists every family, for metrics and stats.
func Families() []Family {
	return []Family{FamilyProduct, FamilyProductBySKU, FamilyProductList, FamilyCustomer, FamilyCustomerOrders, FamilyOutput, FamilyStock}
}

// Expiry is how long a family's entries live.
type Expiry struct {
	// TTL is the absolute life: no entry outlives its write by more.
	TTL time.Duration
	// Sliding, when set, is the life a write gives an entry and a read of it
	// renews: an entry nobody reads is gone after Sliding, one that is read
	// lives on, but never past TTL from its write.
	Sliding time.Duration
}

// Expiry is the family's row of the TTL table (README, "Cache keys"): the
// one place a family's life is set.
//
// Customer profiles slide: a profile is read in bursts by its own customer
// (one session, then nothing for days), so an entry nobody has read for 15
// minutes only holds memory, while one in use should not expire in the
// middle of a session. The 60-minute cap keeps today's bound on how long an
// entry whose evictions were all lost can be served.
func (f Family) Expiry() Expiry {
	switch f {
	case FamilyProduct, FamilyProductBySKU:
		return Expiry{TTL: 30 * time.Minute}
	case FamilyProductList, FamilyOutput:
		return Expiry{TTL: 5 * time.Minute}
	case FamilyCustomer:
		return Expiry{TTL: 60 * time.Minute, Sliding: 15 * time.Minute}
	case FamilyCustomerOrders:
		return Expiry{TTL: 2 * time.Minute}
	case FamilyStock:
		// The most a deployment may set; the cache writes stock entries
		// with the deployment's own Config.StockTTL.
		return Expiry{TTL: MaxStockTTL}
	default:
		return Expiry{TTL: time.Minute}
	}
}

// MaxStockTTL is the longest stock TTL a deployment may set: stock read by
// products is then at most this old when an eviction was lost.
const MaxStockTTL = 10 * time.Second

// TTL is the family's absolute time to live before jitter.
func (f Family) TTL() time.Duration { return f.Expiry().TTL }

// ttlJitter is the fraction by which a TTL is shortened at random, so keys
// written together do not expire together.
const ttlJitter = 0.1

// JitteredTTL returns the life a write gives an entry of the family (its
// sliding window when it has one, else its TTL), shortened by up to 10 %.
func (f Family) JitteredTTL() time.Duration {
	e := f.Expiry()
	if e.Sliding > 0 {
		return jittered(e.Sliding)
	}
	return jittered(e.TTL)
}

// jittered shortens ttl by up to ttlJitter at random.
func jittered(ttl time.Duration) time.Duration {
	return ttl - time.Duration(rand.Float64()*ttlJitter*float64(ttl))
}

// TombstoneTTL is how long an eviction's tombstone fences out older values.
// It must outlive the slowest load that could still write, so it is far
// above the load timeout.
const TombstoneTTL = 60 * time.Second

// Key is one cached entry's family and its key within the family; the
// full Redis key adds the keyspace's prefix and generation.
type Key struct {
	Family Family
	Name   string
}

// Every family key carries a Redis Cluster hash tag: the braces around the
// entity's id (or the whole varying part). The lease key only appends to
// the entry's key, so an entry, its tombstone (the same key) and its lease
// always hash to one slot, and family keys of different entities spread over
// the cluster. ParseKey reads the form back.

// tagged is a family key: the family's name, then the hash-tagged argument.
func tagged(family, arg string) string { return family + "{" + arg + "}" }

// ProductKey is a product's details, without stock.
func ProductKey(id string) Key { return Key{FamilyProduct, tagged("products:", id)} }

// ProductSKUKey is a product's details found by SKU, compared case-insensitively.
func ProductSKUKey(sku string) Key {
	return Key{FamilyProductBySKU, tagged("products:sku:", strings.ToLower(sku))}
}

// ProductListKey is page one of the catalogue with the default page size and no search.
func ProductListKey() Key { return Key{FamilyProductList, tagged("products:", "list")} }

// StockKey is a product's stock level and aggregate version; it shares the
// product's hash tag.
func StockKey(id string) Key { return Key{FamilyStock, tagged("products:stock:", id)} }

// CustomerKey is a customer's profile.
func CustomerKey(id string) Key { return Key{FamilyCustomer, tagged("customers:", id)} }

// CustomerOrdersKey is a customer's order summaries.
func CustomerOrdersKey(customerID string) Key {
	return Key{FamilyCustomerOrders, tagged("orders:customer:", customerID)}
}

// OutputKey is a cached HTTP response of a public endpoint, kept under an
// output-cache tag. Its hash tag is the tag's, as is the tag version's
// (Keyspace.TagVersion): one script reads both in one round trip, on
// Redis Cluster too.
func OutputKey(tag, method, path string) Key {
	return Key{FamilyOutput, tagged("http:", tag) + ":" + method + ":" + path}
}

// ParseKey reads a family key back (the Redis key without prefix and
// generation): the key and its argument (id, SKU, or "" for the list).
// Leases, tag versions, output entries and stock entries (seconds-long
// copies of live data, never rebuilt by replay nor checked by verify) are
// not entries of a read model and do not parse.
func ParseKey(name string) (key Key, arg string, ok bool) {
	if strings.HasSuffix(name, ":lease") || !strings.HasSuffix(name, "}") {
		return Key{}, "", false
	}
	if name == ProductListKey().Name {
		return ProductListKey(), "", true
	}
	for _, f := range []struct {
		family string
		key    func(string) Key
	}{
		{"products:sku:{", ProductSKUKey},
		{"products:{", ProductKey},
		{"customers:{", CustomerKey},
		{"orders:customer:{", CustomerOrdersKey},
	} {
		if rest, found := strings.CutPrefix(name, f.family); found {
			arg = strings.TrimSuffix(rest, "}")
			return f.key(arg), arg, true
		}
	}
	return Key{}, "", false
}

// ProductsTag is the output-cache tag every product change but stock evicts.
const ProductsTag = "products"

// DefaultKeyPrefix is the instance prefix of every key, the cache's and the streams'.
const DefaultKeyPrefix = "orderflow:"

// Keyspace turns cache keys into store keys: the instance prefix, then the
// generation (when replay switched readers to a rebuilt cache), then the
// family key. It is the only place a key of the cache is spelled.
type Keyspace struct {
	Prefix string
}

// Key is the store key of an entry in generation gen ("" for none).
func (k Keyspace) Key(gen string, key Key) string {
	if gen == "" {
		return k.Prefix + key.Name
	}
	return k.Prefix + gen + ":" + key.Name
}

// Lease is the store key of the load lease that guards key.
func (k Keyspace) Lease(gen string, key Key) string { return k.Key(gen, key) + ":lease" }

// TagVersion is the store key holding an output-cache tag's version.
func (k Keyspace) TagVersion(gen, tag string) string {
	return k.Key(gen, Key{FamilyOutput, tagged("tag:", tag)})
}

// Generation is the store key of the pointer to the generation readers use;
// NextGeneration points to the one a replay is filling. They share a hash
// tag so one MGET reads both on Redis Cluster.
func (k Keyspace) Generation() string { return k.Prefix + "{meta}:generation" }

// NextGeneration is the store key of the generation being rebuilt, if any.
func (k Keyspace) NextGeneration() string { return k.Prefix + "{meta}:generation:next" }

// Backplane is the pub/sub channel on which writes announce their keys to
// every process's near cache (a channel, not a key: it holds nothing).
func (k Keyspace) Backplane() string { return k.Prefix + "near-cache:backplane" }

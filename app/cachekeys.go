package app

import (
	"hash/crc32"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// CacheFamily is a kind of cached read model; metrics and the TTL table are per family.
type CacheFamily string

// The cached read models (docs/guarantees.md, "Cache policy").
const (
	FamilyProduct        CacheFamily = "product"
	FamilyProductBySKU   CacheFamily = "product_sku"
	FamilyProductList    CacheFamily = "product_list"
	FamilyCustomer       CacheFamily = "customer"
	FamilyCustomerOrders CacheFamily = "customer_orders"
	FamilyOutput         CacheFamily = "output"
)

// CacheFamilies lists every family, for metrics and stats.
func CacheFamilies() []CacheFamily {
	return []CacheFamily{FamilyProduct, FamilyProductBySKU, FamilyProductList, FamilyCustomer, FamilyCustomerOrders, FamilyOutput}
}

// TTL is the family's time to live before jitter (docs/guarantees.md,
// "Cache policy").
func (f CacheFamily) TTL() time.Duration {
	switch f {
	case FamilyProduct, FamilyProductBySKU:
		return 30 * time.Minute
	case FamilyProductList, FamilyOutput:
		return 5 * time.Minute
	case FamilyCustomer:
		return 60 * time.Minute
	case FamilyCustomerOrders:
		return 2 * time.Minute
	default:
		return time.Minute
	}
}

// ttlJitter is the fraction by which a TTL is shortened at random, so keys
// written together do not expire together.
const ttlJitter = 0.1

// JitteredTTL returns the family's TTL shortened by up to 10 %.
func (f CacheFamily) JitteredTTL() time.Duration {
	ttl := f.TTL()
	return ttl - time.Duration(rand.Float64()*ttlJitter*float64(ttl))
}

// TombstoneTTL is how long an eviction's tombstone fences out older values.
// It must outlive the slowest load that could still write, so it is far
// above the load timeout.
const TombstoneTTL = 60 * time.Second

// CacheKey is one cached entry's family and its key within the family; the
// full Redis key adds the keyspace's prefix and generation.
type CacheKey struct {
	Family CacheFamily
	Name   string
}

// Every family key carries a Redis Cluster hash tag: the braces around the
// entity's id (or the whole varying part). The lease key only appends to
// the entry's key, so an entry, its tombstone (the same key) and its lease
// always hash to one slot, and family keys of different entities spread over
// the cluster. ParseCacheKey reads the form back.

// tagged is a family key: the family's name, then the hash-tagged argument.
func tagged(family, arg string) string { return family + "{" + arg + "}" }

// ProductKey is a product's details, without stock.
func ProductKey(id string) CacheKey { return CacheKey{FamilyProduct, tagged("products:", id)} }

// ProductSKUKey is a product's details found by SKU, compared case-insensitively.
func ProductSKUKey(sku string) CacheKey {
	return CacheKey{FamilyProductBySKU, tagged("products:sku:", strings.ToLower(sku))}
}

// ProductListKey is page one of the catalogue with the default page size and no search.
func ProductListKey() CacheKey { return CacheKey{FamilyProductList, tagged("products:", "list")} }

// CustomerKey is a customer's profile.
func CustomerKey(id string) CacheKey { return CacheKey{FamilyCustomer, tagged("customers:", id)} }

// CustomerOrdersKey is a customer's order summaries.
func CustomerOrdersKey(customerID string) CacheKey {
	return CacheKey{FamilyCustomerOrders, tagged("orders:customer:", customerID)}
}

// OutputKey is a cached HTTP response of a public endpoint.
func OutputKey(method, path string) CacheKey {
	return CacheKey{FamilyOutput, tagged("http:", method+":"+path)}
}

// ParseCacheKey reads a family key back (the Redis key without prefix and
// generation): the key and its argument (id, SKU, or "" for the list).
// Leases, tag versions and output entries are not entries of a read model
// and do not parse.
func ParseCacheKey(name string) (key CacheKey, arg string, ok bool) {
	if strings.HasSuffix(name, ":lease") || !strings.HasSuffix(name, "}") {
		return CacheKey{}, "", false
	}
	if name == ProductListKey().Name {
		return ProductListKey(), "", true
	}
	for _, f := range []struct {
		family string
		key    func(string) CacheKey
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
	return CacheKey{}, "", false
}

// ProductsTag is the output-cache tag every product change but stock evicts.
const ProductsTag = "products"

// DefaultKeyPrefix is the instance prefix of every cache key.
const DefaultKeyPrefix = "orderflow:"

// Keyspace turns cache keys into Redis keys: the instance prefix, then the
// generation (when replay switched readers to a rebuilt cache), then the
// family key. It is the only place a Redis key of the cache is spelled.
type Keyspace struct {
	Prefix string
	// StreamShards is the number of event stream shards (0 means 1); every
	// binary sharing the keyspace must use the same.
	StreamShards int
}

// Key is the Redis key of an entry in generation gen ("" for none).
func (k Keyspace) Key(gen string, key CacheKey) string {
	if gen == "" {
		return k.Prefix + key.Name
	}
	return k.Prefix + gen + ":" + key.Name
}

// Lease is the Redis key of the load lease that guards key.
func (k Keyspace) Lease(gen string, key CacheKey) string { return k.Key(gen, key) + ":lease" }

// TagVersion is the Redis key holding an output-cache tag's version.
func (k Keyspace) TagVersion(gen, tag string) string {
	return k.Key(gen, CacheKey{FamilyOutput, tagged("tag:", tag)})
}

// Generation is the Redis key of the pointer to the generation readers use;
// NextGeneration points to the one a replay is filling. They share a hash
// tag so one MGET reads both on Redis Cluster.
func (k Keyspace) Generation() string { return k.Prefix + "{meta}:generation" }

// NextGeneration is the Redis key of the generation being rebuilt, if any.
func (k Keyspace) NextGeneration() string { return k.Prefix + "{meta}:generation:next" }

// Event streams are split into Keyspace.StreamShards shards; an aggregate's
// events all go to one shard (StreamShard) and, within it, to its type's
// stream, in commit order. A shard's streams and its relay checkpoint share
// one hash tag ({events} for shard 0, {events:N} for shard N), so the
// relay's script that appends to a shard's streams and moves its checkpoint
// touches one Redis Cluster slot, while different shards can sit on
// different masters. With one shard the keys are those of a build without
// shards.

// Shards is the number of stream shards, at least 1.
func (k Keyspace) Shards() int { return max(k.StreamShards, 1) }

// AggregateTypes lists the aggregate types that have event streams.
func AggregateTypes() []string { return []string{"product", "customer", "order"} }

// StreamShard is the shard of an aggregate's events: the CRC-32 (IEEE) of
// its id modulo the shard count, so every binary agrees without
// coordination. (FNV-1a would not do: its low bits depend only on the low
// bits of each byte, so a modulus of 4 spreads ids over 2 shards.)
func (k Keyspace) StreamShard(aggregateID string) int {
	n := k.Shards()
	if n == 1 {
		return 0
	}
	return int(crc32.ChecksumIEEE([]byte(aggregateID)) % uint32(n))
}

// eventsTag is the hash tag of one shard's streams and checkpoint.
func (k Keyspace) eventsTag(shard int) string {
	if shard == 0 {
		return k.Prefix + "{events}"
	}
	return k.Prefix + "{events:" + strconv.Itoa(shard) + "}"
}

// ShardEventStream is the Redis stream of one aggregate type in one shard.
func (k Keyspace) ShardEventStream(aggregateType string, shard int) string {
	return k.eventsTag(shard) + ":stream:" + aggregateType
}

// EventStream is shard 0's stream of an aggregate type: with one shard,
// the stream carrying every event of that type.
func (k Keyspace) EventStream(aggregateType string) string {
	return k.ShardEventStream(aggregateType, 0)
}

// AggregateEventStream is the stream carrying one aggregate's events.
func (k Keyspace) AggregateEventStream(aggregateType, aggregateID string) string {
	return k.ShardEventStream(aggregateType, k.StreamShard(aggregateID))
}

// EventStreams lists the streams of every aggregate type in every shard.
func (k Keyspace) EventStreams() []string {
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
func (k Keyspace) ShardCheckpoint(shard int) string { return k.eventsTag(shard) + ":relay:checkpoint" }

// RelayCheckpoint is shard 0's checkpoint: with one shard, the relay's
// position in the log.
func (k Keyspace) RelayCheckpoint() string { return k.ShardCheckpoint(0) }

// StreamShardsKey records the shard count the streams were written with,
// so a binary configured with another count refuses to start.
func (k Keyspace) StreamShardsKey() string { return k.eventsTag(0) + ":stream-shards" }

// DeadLetterStream is where entries a projector cannot apply are parked;
// there is one for all shards (parking is rare, order does not matter).
func (k Keyspace) DeadLetterStream() string { return k.eventsTag(0) + ":dead-letter" }

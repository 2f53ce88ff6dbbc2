package app

import (
	"math/rand/v2"
	"strings"
	"time"
)

// CacheFamily is a kind of cached read model; metrics and the TTL table are per family.
type CacheFamily string

// The cached read models of SPEC §4.
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

// TTL is the family's time to live before jitter (SPEC §4).
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

// ProductKey is a product's details, without stock.
func ProductKey(id string) CacheKey { return CacheKey{FamilyProduct, "products:" + id} }

// ProductSKUKey is a product's details found by SKU, compared case-insensitively.
func ProductSKUKey(sku string) CacheKey {
	return CacheKey{FamilyProductBySKU, "products:sku:" + strings.ToLower(sku)}
}

// ProductListKey is page one of the catalogue with the default page size and no search.
func ProductListKey() CacheKey { return CacheKey{FamilyProductList, "products:list"} }

// CustomerKey is a customer's profile.
func CustomerKey(id string) CacheKey { return CacheKey{FamilyCustomer, "customers:" + id} }

// CustomerOrdersKey is a customer's order summaries.
func CustomerOrdersKey(customerID string) CacheKey {
	return CacheKey{FamilyCustomerOrders, "orders:customer:" + customerID}
}

// OutputKey is a cached HTTP response of a public endpoint.
func OutputKey(method, path string) CacheKey {
	return CacheKey{FamilyOutput, "http:" + method + ":" + path}
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
	return k.Key(gen, CacheKey{FamilyOutput, "tag:" + tag})
}

// Generation is the Redis key of the pointer to the generation readers use;
// NextGeneration points to the one a replay is filling. They share a hash
// tag so one MGET reads both on Redis Cluster.
func (k Keyspace) Generation() string { return k.Prefix + "{meta}:generation" }

// NextGeneration is the Redis key of the generation being rebuilt, if any.
func (k Keyspace) NextGeneration() string { return k.Prefix + "{meta}:generation:next" }

// Event streams and the relay's checkpoint share the hash tag {events}, so
// the relay's script that appends to streams and moves the checkpoint
// touches one Redis Cluster slot.

// EventStream is the Redis stream carrying one aggregate type's events; an
// aggregate's events are all in one stream, in commit order.
func (k Keyspace) EventStream(aggregateType string) string {
	return k.Prefix + "{events}:stream:" + aggregateType
}

// EventStreams lists the streams of every aggregate type.
func (k Keyspace) EventStreams() []string {
	return []string{k.EventStream("product"), k.EventStream("customer"), k.EventStream("order")}
}

// RelayCheckpoint is the Redis key of the relay's position in the log.
func (k Keyspace) RelayCheckpoint() string { return k.Prefix + "{events}:relay:checkpoint" }

// DeadLetterStream is where entries a projector cannot apply are parked.
func (k Keyspace) DeadLetterStream() string { return k.Prefix + "{events}:dead-letter" }

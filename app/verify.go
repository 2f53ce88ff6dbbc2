package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// KeyScanner lists the keys under a prefix, in batches. Implemented by adapters/redis.
type KeyScanner interface {
	ScanPrefix(ctx context.Context, prefix string, each func(keys []string) error) error
}

// Drift is what verify found: cached entries that differ from PostgreSQL.
type Drift struct {
	Checked int
	Drifted int
	// Samples names up to ten drifted keys with what differed.
	Samples []string
}

// Verify compares every cached projection with what the read tables hold
// now. Tombstones, leases and output-cache entries are skipped. A product's
// version is live data (stock events move it) and is left out of the
// comparison of product details; everything else must be equal.
func Verify(ctx context.Context, c *Cache, scanner KeyScanner, reads ReadModel) (Drift, error) {
	var d Drift
	prefix := c.cfg.Keys.Key(c.generation(), CacheKey{})
	err := scanner.ScanPrefix(ctx, prefix, func(keys []string) error {
		for _, full := range keys {
			name := strings.TrimPrefix(full, prefix)
			key, load, ok := verifiable(reads, name)
			if !ok {
				continue
			}
			entry, err := c.store.Get(ctx, full)
			if err != nil {
				return err
			}
			if !entry.Found || entry.Tombstone {
				continue
			}
			d.Checked++
			want, _, err := load(ctx)
			if errors.Is(err, ErrNotFound) {
				want = nil
			} else if err != nil {
				return fmt.Errorf("load %s: %w", key.Name, err)
			}
			if !sameProjection(key.Family, entry.Data, want) {
				d.Drifted++
				if len(d.Samples) < 10 {
					d.Samples = append(d.Samples, fmt.Sprintf("%s: cached %s, PostgreSQL %s", full, entry.Data, want))
				}
			}
		}
		return nil
	})
	return d, err
}

// verifiable maps a family key to its loader; leases, tags and output
// entries are not projections.
func verifiable(reads ReadModel, name string) (CacheKey, rawLoader, bool) {
	encode := func(v any, version int64, err error) ([]byte, int64, error) {
		if err != nil {
			return nil, 0, err
		}
		data, err := json.Marshal(v)
		return data, version, err
	}
	key, arg, ok := ParseCacheKey(name)
	if !ok {
		return CacheKey{}, nil, false
	}
	var load rawLoader
	switch key.Family {
	case FamilyProductList:
		load = func(ctx context.Context) ([]byte, int64, error) { return encode(loadProductList(reads)(ctx)) }
	case FamilyProductBySKU:
		load = func(ctx context.Context) ([]byte, int64, error) {
			return encode(loadProductDetailsBySKU(reads, arg)(ctx))
		}
	case FamilyProduct:
		load = func(ctx context.Context) ([]byte, int64, error) { return encode(loadProductDetails(reads, arg)(ctx)) }
	case FamilyCustomer:
		load = func(ctx context.Context) ([]byte, int64, error) { return encode(loadCustomer(reads, arg)(ctx)) }
	case FamilyCustomerOrders:
		load = func(ctx context.Context) ([]byte, int64, error) { return encode(loadCustomerOrders(reads, arg)(ctx)) }
	default:
		return CacheKey{}, nil, false
	}
	return key, load, true
}

// sameProjection compares a cached value with the read tables' one,
// leaving out product versions (live data).
func sameProjection(f CacheFamily, cached, want []byte) bool {
	if want == nil {
		return false
	}
	switch f {
	case FamilyProduct, FamilyProductBySKU:
		var a, b Product
		if json.Unmarshal(cached, &a) != nil || json.Unmarshal(want, &b) != nil {
			return false
		}
		a.Version, b.Version = 0, 0
		return sameJSON(a, b)
	}
	var a, b any
	if json.Unmarshal(cached, &a) != nil || json.Unmarshal(want, &b) != nil {
		return false
	}
	return sameJSON(a, b)
}

func sameJSON(a, b any) bool {
	x, errA := json.Marshal(a)
	y, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(x, y)
}

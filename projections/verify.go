package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/query"
)

// rawLoader reads a read model in JSON and the version that fences it.
type rawLoader func(ctx context.Context) ([]byte, int64, error)

// KeyScanner lists the keys under a prefix, in batches. Implemented by adapters/redis.
type KeyScanner interface {
	ScanPrefix(ctx context.Context, prefix string, each func(keys []string) error) error
}

// Drift is what verify found: cached entries that differ from PostgreSQL.
type Drift struct {
	// Checked counts the cached entries compared, values and tombstones.
	// Zero proves nothing: the caller decides whether an empty cache is
	// expected.
	Checked int
	Drifted int
	// Rechecked counts entries that differed at first but agreed (or had
	// expired) when read again: writes that landed between the two sides'
	// reads.
	Rechecked int
	// Samples names up to ten drifted keys with what differed.
	Samples []string
}

// VerifyConfig tunes Verify.
type VerifyConfig struct {
	// RecheckWait bounds how long an entry that differs from PostgreSQL is
	// given to be rewritten before both sides are read again; the projector
	// normally writes within milliseconds of a commit.
	RecheckWait time.Duration
}

// DefaultRecheckWait is VerifyConfig.RecheckWait's default: above the
// projector's retries of a failing handler (100 ms doubling, 3 times).
const DefaultRecheckWait = 2 * time.Second

// Verify compares every cached projection with what the read tables hold
// now, with the default configuration.
func Verify(ctx context.Context, c *cache.Cache, scanner KeyScanner, reads app.ReadModel) (Drift, error) {
	return VerifyWith(ctx, c, scanner, reads, VerifyConfig{})
}

// VerifyWith compares every cached projection of the current generation
// with what the read tables hold now. Leases and output-cache entries are
// skipped. An entry drifts when
//   - its value differs from the read tables' (a product's version is live
//     data, which stock events move, so it is left out of product details);
//   - it carries a version newer than the read tables' (from the future: a
//     restored database, or another database's cache), which would also
//     fence out every correct write until the log caught up;
//   - it is a tombstone the projectors never replaced: every eviction
//     follows a commit whose event makes a projector rewrite the entry at
//     that version or later, so a standing tombstone is a projection that
//     is missing although expected (a lost or parked event).
//
// A key that is merely absent is not drift: every entry has a TTL and the
// next read fills it, so absence says nothing about the projectors.
//
// A differing entry may be a write in flight (a commit read from
// PostgreSQL whose projection is not yet written, or the other way round),
// so it is reported only if it still differs when both sides are read
// again, once it was rewritten or RecheckWait passed.
func VerifyWith(ctx context.Context, c *cache.Cache, scanner KeyScanner, reads app.ReadModel, cfg VerifyConfig) (Drift, error) {
	if cfg.RecheckWait <= 0 {
		cfg.RecheckWait = DefaultRecheckWait
	}
	var (
		d        Drift
		suspects []suspect
	)
	prefix := c.Keys().Key(c.Generation(), cache.Key{})
	err := scanner.ScanPrefix(ctx, prefix, func(keys []string) error {
		for _, full := range keys {
			key, load, ok := verifiable(reads, strings.TrimPrefix(full, prefix))
			if !ok {
				continue
			}
			entry, err := c.Entry(ctx, full)
			if err != nil {
				return err
			}
			if !entry.Found {
				continue // expired since the scan
			}
			d.Checked++
			differs, err := compareEntry(ctx, key, entry, load)
			if err != nil {
				return err
			}
			if differs != "" {
				suspects = append(suspects, suspect{full: full, key: key, load: load, first: entry})
			}
		}
		return nil
	})
	if err != nil || len(suspects) == 0 {
		return d, err
	}
	if err := awaitRewrites(ctx, c, suspects, cfg.RecheckWait); err != nil {
		return d, err
	}
	for _, s := range suspects {
		entry, err := c.Entry(ctx, s.full)
		if err != nil {
			return d, err
		}
		differs := ""
		if entry.Found {
			if differs, err = compareEntry(ctx, s.key, entry, s.load); err != nil {
				return d, err
			}
		}
		if differs == "" {
			d.Rechecked++
			continue
		}
		d.Drifted++
		if len(d.Samples) < 10 {
			d.Samples = append(d.Samples, s.full+": "+differs)
		}
	}
	return d, nil
}

// suspect is an entry that differed from PostgreSQL on the first read.
type suspect struct {
	full  string
	key   cache.Key
	load  rawLoader
	first cache.Entry
}

// rewritten reports whether a projector or a reader wrote a value since
// the first read, or the entry went away. A tombstone is no rewrite: the
// API writes one right after a commit, and the projector's value follows.
func (s suspect) rewritten(now cache.Entry) bool {
	if !now.Found {
		return true
	}
	return !now.Tombstone && (s.first.Tombstone || now.Version != s.first.Version || !now.WrittenAt.Equal(s.first.WrittenAt))
}

// awaitRewrites polls the suspects' entries until each was rewritten or
// wait passed.
func awaitRewrites(ctx context.Context, c *cache.Cache, suspects []suspect, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	pending := suspects
	for pause := 5 * time.Millisecond; len(pending) > 0 && time.Now().Before(deadline); pause = min(2*pause, 100*time.Millisecond) {
		t := time.NewTimer(min(pause, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		left := pending[:0:0]
		for _, s := range pending {
			now, err := c.Entry(ctx, s.full)
			if err != nil {
				return err
			}
			if !s.rewritten(now) {
				left = append(left, s)
			}
		}
		pending = left
	}
	return nil
}

// compareEntry says how a cached entry differs from the read tables, or ""
// when it agrees.
func compareEntry(ctx context.Context, key cache.Key, entry cache.Entry, load rawLoader) (string, error) {
	want, version, err := load(ctx)
	if errors.Is(err, app.ErrNotFound) {
		return fmt.Sprintf("cached %s at version %d, PostgreSQL has none", entryKind(entry), entry.Version), nil
	}
	if err != nil {
		return "", fmt.Errorf("load %s: %w", key.Name, err)
	}
	switch {
	case entry.Version > version:
		return fmt.Sprintf("from the future: cached %s at version %d, PostgreSQL at version %d", entryKind(entry), entry.Version, version), nil
	case entry.Tombstone:
		return fmt.Sprintf("missing: evicted at version %d and never rewritten, PostgreSQL at version %d", entry.Version, version), nil
	case !sameProjection(key.Family, entry.Data, want):
		return fmt.Sprintf("wrong: cached %s at version %d, PostgreSQL %s at version %d", entry.Data, entry.Version, want, version), nil
	}
	return "", nil
}

func entryKind(e cache.Entry) string {
	if e.Tombstone {
		return "tombstone"
	}
	return "value"
}

// verifiable maps a family key to its loader; leases, tags, output and
// stock entries are not projections (cache.ParseKey).
func verifiable(reads app.ReadModel, name string) (cache.Key, rawLoader, bool) {
	encode := func(v any, version int64, err error) ([]byte, int64, error) {
		if err != nil {
			return nil, 0, err
		}
		data, err := json.Marshal(v)
		return data, version, err
	}
	key, arg, ok := cache.ParseKey(name)
	if !ok {
		return cache.Key{}, nil, false
	}
	var load rawLoader
	switch key.Family {
	case cache.FamilyProductList:
		load = func(ctx context.Context) ([]byte, int64, error) { return encode(query.LoadProductList(reads)(ctx)) }
	case cache.FamilyProductBySKU:
		load = func(ctx context.Context) ([]byte, int64, error) {
			return encode(query.LoadProductDetailsBySKU(reads, arg)(ctx))
		}
	case cache.FamilyProduct:
		load = func(ctx context.Context) ([]byte, int64, error) {
			return encode(query.LoadProductDetails(reads, arg)(ctx))
		}
	case cache.FamilyCustomer:
		load = func(ctx context.Context) ([]byte, int64, error) { return encode(query.LoadCustomer(reads, arg)(ctx)) }
	case cache.FamilyCustomerOrders:
		load = func(ctx context.Context) ([]byte, int64, error) {
			return encode(query.LoadCustomerOrders(reads, arg)(ctx))
		}
	default:
		return cache.Key{}, nil, false
	}
	return key, load, true
}

// sameProjection compares a cached value with the read tables' one,
// leaving out product versions (live data).
func sameProjection(f cache.Family, cached, want []byte) bool {
	if want == nil {
		return false
	}
	switch f {
	case cache.FamilyProduct, cache.FamilyProductBySKU:
		var a, b app.Product
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

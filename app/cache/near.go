package cache

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// The near cache is a bounded in-process copy (L1) of Redis entries this
// process has read, each with the version it was read at. It never weakens
// read-your-writes (docs/adr/0015-near-cache.md):
//
//   - A default read answers from it only after Redis confirms, in the same
//     one round trip a plain read costs, that the key still holds a value at
//     that version (Store.GetIfChanged returns no value then). Redis is where
//     every acknowledged write left its tombstone, so this read is exactly as
//     fresh as reading the value itself.
//   - A read that asked for bounded staleness (ReadOptions.MaxStale) may be
//     answered without Redis when the copy was last confirmed current at
//     most MaxStale ago; the answer carries that age.
//   - The backplane only keeps copies fresh sooner and memory clean: every
//     write announces its keys and every process drops them; a lost
//     subscription, a reconnect or a generation switch drops everything.
//     Neither kind of read relies on it for its bound.

// Backplane announces the store keys a write changed to every process's
// near cache. Publish is best effort and need not wait for the send: a lost
// or late announcement costs only freshness of copies, never a read's
// bound (default reads are confirmed in Redis, max-stale ones by their age).
type Backplane interface {
	Publish(ctx context.Context, keys []string) error
}

// NearConfig tunes the near cache.
type NearConfig struct {
	// MaxBytes bounds the memory of the cached values (keys and values
	// counted); 0 turns the near cache off.
	MaxBytes int64
	// Backplane, when set, carries this process's writes to the others.
	Backplane Backplane
	// OnPublishError observes a failed announcement.
	OnPublishError func(err error)
}

// nearEntry is a value as Redis held it, and when it was last known current.
// data and version never change; a confirmation only moves checked forward,
// in place, so a confirmed read costs the L1 no write.
type nearEntry struct {
	data    []byte
	version int64
	// checked is when the read that last saw this version in Redis was
	// sent (Unix nanoseconds): the value was current then.
	checked atomic.Int64
}

func newNearEntry(data []byte, version int64, checked time.Time) *nearEntry {
	e := &nearEntry{data: data, version: version}
	e.checked.Store(checked.UnixNano())
	return e
}

// checkedAt is when the copy was last known current.
func (e *nearEntry) checkedAt() time.Time { return time.Unix(0, e.checked.Load()) }

// confirm records that a read sent at t saw this version in Redis; an
// earlier confirmation than the one held changes nothing.
func (e *nearEntry) confirm(t time.Time) {
	at := t.UnixNano()
	for {
		held := e.checked.Load()
		if held >= at || e.checked.CompareAndSwap(held, at) {
			return
		}
	}
}

// nearCache is the L1 and its counters.
type nearCache struct {
	entries *otter.Cache[string, *nearEntry]
	cfg     NearConfig
	now     func() time.Time
	// resets counts whole-cache drops (reconnects, generation switches).
	resets atomic.Int64
}

// nearEntryOverhead approximates an entry's bookkeeping in bytes, so many
// small values cannot exceed the bound.
const nearEntryOverhead = 96

func newNearCache(cfg NearConfig) (*nearCache, error) {
	if cfg.MaxBytes <= 0 {
		return nil, nil
	}
	entries, err := otter.New(&otter.Options[string, *nearEntry]{
		MaximumWeight: uint64(cfg.MaxBytes),
		Weigher: func(key string, e *nearEntry) uint32 {
			return uint32(min(len(key)+len(e.data)+nearEntryOverhead, 1<<31))
		},
	})
	if err != nil {
		return nil, err
	}
	return &nearCache{entries: entries, cfg: cfg, now: time.Now}, nil
}

// get returns the copy of a store key.
func (n *nearCache) get(key string) (*nearEntry, bool) {
	if n == nil {
		return nil, false
	}
	return n.entries.GetIfPresent(key)
}

// put keeps what a read saw in Redis. A copy of a newer version is kept
// instead; a copy of the same version takes the later confirmation.
func (n *nearCache) put(key string, e *nearEntry) {
	if n == nil {
		return
	}
	n.entries.Compute(key, func(old *nearEntry, found bool) (*nearEntry, otter.ComputeOp) {
		if found && old.version >= e.version {
			if old.version == e.version {
				old.confirm(e.checkedAt())
			}
			return old, otter.CancelOp
		}
		return e, otter.WriteOp
	})
}

// forget drops the copies of store keys.
func (n *nearCache) forget(keys ...string) {
	if n == nil {
		return
	}
	for _, k := range keys {
		n.entries.Invalidate(k)
	}
}

// forgetAll drops every copy.
func (n *nearCache) forgetAll() {
	if n == nil {
		return
	}
	n.entries.InvalidateAll()
	n.resets.Add(1)
}

// NearStats is the near cache's state, for metrics and the stats endpoint.
type NearStats struct {
	Enabled bool
	Entries int
	Bytes   uint64
	// MaxBytes is the bound on Bytes.
	MaxBytes uint64
	// Resets counts drops of the whole near cache.
	Resets int64
}

// NearStats reports the near cache's size; Enabled is false without one.
func (c *Cache) NearStats() NearStats {
	n := c.near
	if n == nil {
		return NearStats{}
	}
	return NearStats{Enabled: true, Entries: n.entries.EstimatedSize(), Bytes: n.entries.WeightedSize(),
		MaxBytes: uint64(n.cfg.MaxBytes), Resets: n.resets.Load()}
}

// ForgetNear drops the near cache's copies of store keys another process
// announced as written (the backplane's subscriber calls it).
func (c *Cache) ForgetNear(keys ...string) { c.near.forget(keys...) }

// ForgetAllNear drops the whole near cache: the backplane's subscription
// was lost or re-established, so announcements may have been missed.
func (c *Cache) ForgetAllNear() { c.near.forgetAll() }

// announce forgets keys locally and tells the other processes, best effort.
func (c *Cache) announce(ctx context.Context, keys []string) {
	if c.near != nil {
		c.near.forget(keys...)
	}
	bp := c.cfg.Near.Backplane
	if bp == nil || len(keys) == 0 {
		return
	}
	if err := bp.Publish(ctx, keys); err != nil && c.cfg.Near.OnPublishError != nil {
		c.cfg.Near.OnPublishError(err)
	}
}

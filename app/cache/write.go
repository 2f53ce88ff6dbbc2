package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Invalidation names what a command made stale: a key with the version it
// reached, or an output-cache tag.
type Invalidation struct {
	Key     Key
	Version int64
	Tag     string
}

// invalidateFor bounds how long a command's evictions are retried before the command
// answers anyway: its events are committed, and the projector evicts the
// same keys from them. An eviction given up while Redis serves again leaves a
// stale HIT until the projector catches up, so slow replies on a busy machine
// (which can also trip the breaker for a moment) are waited out. Only a Redis
// already known to be down when the command began (breaker open: readers
// bypass it) gets a few quick attempts, so writes stay quick while it is gone.
const (
	invalidateFor          = 3 * time.Second
	invalidateDownAttempts = 3
)

// Invalidate tombstones every stale key at the version its command reached
// and bumps every stale tag. It runs after commit and before the command
// answers (read-your-writes), so a failed eviction is tried again before it
// is reported and left to the projector.
func (c *Cache) Invalidate(ctx context.Context, stale []Invalidation) {
	deadline := time.Now().Add(invalidateFor)
	downBefore := !c.store.Available()
	for _, inv := range stale {
		pause := 5 * time.Millisecond
		err := c.invalidate(ctx, inv)
		for attempt := 1; err != nil; attempt++ {
			if time.Now().After(deadline) || (downBefore && attempt >= invalidateDownAttempts) {
				break
			}
			time.Sleep(pause)
			pause = min(pause*2, 100*time.Millisecond)
			err = c.invalidate(ctx, inv)
		}
		if err != nil && c.cfg.OnInvalidateError != nil {
			c.cfg.OnInvalidateError(inv, err)
		}
	}
	c.announce(ctx, c.storeKeys(stale))
}

// storeKeys are the keys of every generation being written that stale
// names (tags have none).
func (c *Cache) storeKeys(stale []Invalidation) []string {
	var keys []string
	for _, gen := range c.writeGenerations() {
		for _, inv := range stale {
			if inv.Tag == "" {
				keys = append(keys, c.cfg.Keys.Key(gen, inv.Key))
			}
		}
	}
	return keys
}

func (c *Cache) invalidate(ctx context.Context, inv Invalidation) error {
	if inv.Tag != "" {
		return c.BumpTag(ctx, inv.Tag)
	}
	var err error
	for _, gen := range c.writeGenerations() {
		err = errors.Join(err, c.store.Tombstone(ctx, c.cfg.Keys.Key(gen, inv.Key), inv.Version, TombstoneTTL))
	}
	return err
}

// Set writes a value fenced by version, as the projector does after an
// event, to every generation being written; it reports whether the
// generation readers use now holds it.
func Set[T any](ctx context.Context, c *Cache, key Key, version int64, v T) (bool, error) {
	gens := c.writeGenerations()
	stored := false
	for i, gen := range gens {
		ok, err := SetIn(ctx, c, gen, key, version, v)
		if err != nil {
			return false, err
		}
		if i == 0 {
			stored = ok
		}
	}
	if stored {
		c.announce(ctx, []string{c.cfg.Keys.Key(gens[0], key)})
	}
	return stored, nil
}

// SetIn writes a value fenced by version into one generation; replay fills
// the next generation with it.
func SetIn[T any](ctx context.Context, c *Cache, gen string, key Key, version int64, v T) (bool, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return false, fmt.Errorf("encode %s: %w", key.Name, err)
	}
	return c.store.SetFenced(ctx, c.cfg.Keys.Key(gen, key), version, data, c.writeTTL(key.Family))
}

// Tombstone evicts one key at version in every generation being written,
// once: the projector's eviction, whose failure goes back to its router to
// be retried.
func (c *Cache) Tombstone(ctx context.Context, key Key, version int64) error {
	return c.invalidate(ctx, Invalidation{Key: key, Version: version})
}

// Get returns the cached value at key, if one is there.
func Get[T any](ctx context.Context, c *Cache, key Key) (T, bool, error) {
	var v T
	entry, err := c.store.Get(ctx, c.cfg.Keys.Key(c.generation(), key))
	if err != nil || !entry.Found || entry.Tombstone {
		return v, false, err
	}
	if err := json.Unmarshal(entry.Data, &v); err != nil {
		return v, false, nil
	}
	return v, true, nil
}

package cache

import (
	"context"
	"time"
)

// generations are the key generation readers use and, while a replay fills
// one, the next: every write goes to both, so nothing committed during the
// rebuild is missing after the switch.
type generations struct {
	current, next string
}

// RefreshGenerations reads the generation pointers once.
func (c *Cache) RefreshGenerations(ctx context.Context) error {
	p, err := c.store.Pointers(ctx, c.cfg.Keys.Generation(), c.cfg.Keys.NextGeneration())
	if err != nil {
		return err
	}
	if old := c.gens.Swap(&generations{current: p[0], next: p[1]}); old.current != p[0] {
		// Readers moved to another generation: no copy of the old one is
		// of use, and none may outlive the switch.
		c.near.forgetAll()
	}
	return nil
}

// GenerationRefresh is how often a running process re-reads the generation
// pointers; a replay waits a few of these before it relies on every process
// having seen a change.
const GenerationRefresh = time.Second

// WatchGenerations re-reads the generation pointers every GenerationRefresh
// until ctx ends, so a replay's switch reaches every reader.
func (c *Cache) WatchGenerations(ctx context.Context) {
	_ = c.RefreshGenerations(ctx)
	t := time.NewTicker(GenerationRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = c.RefreshGenerations(ctx)
		}
	}
}

// Generation is the key generation readers use ("" before any replay).
func (c *Cache) Generation() string { return c.generation() }

// generation is the key generation readers use.
func (c *Cache) generation() string { return c.gens.Load().current }

// writeGenerations are the generations every write goes to.
func (c *Cache) writeGenerations() []string {
	g := c.gens.Load()
	if g.next != "" && g.next != g.current {
		return []string{g.current, g.next}
	}
	return []string{g.current}
}

package cache

import (
	"context"
	"fmt"
	"time"
)

// read reads an entry as its family's expiry says: a family with a sliding
// window renews the entry's life on a hit, in the same round trip.
func (c *Cache) read(ctx context.Context, f Family, storeKey string) (Entry, error) {
	if e := f.Expiry(); e.Sliding > 0 {
		return c.store.GetSliding(ctx, storeKey, e.Sliding, e.TTL)
	}
	return c.store.Get(ctx, storeKey)
}

// writeTTL is the life a fill gives an entry of f: the family's, except
// for stock, whose life the deployment sets.
func (c *Cache) writeTTL(f Family) time.Duration {
	if f == FamilyStock {
		return jittered(c.cfg.StockTTL)
	}
	return f.JitteredTTL()
}

// StockTTL is how long product reads may take a stock level from the
// cache; 0 means they read it live.
func (c *Cache) StockTTL() time.Duration { return c.cfg.StockTTL }

// ValidateStockTTL reports a stock TTL a deployment may not set, so that
// settings fail at startup.
func ValidateStockTTL(ttl time.Duration) error {
	if ttl < 0 || ttl > MaxStockTTL {
		return fmt.Errorf("stock TTL %s: want 0 (live) up to %s", ttl, MaxStockTTL)
	}
	return nil
}

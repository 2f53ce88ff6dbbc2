package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/orderflow/orderflow/app"
)

// Response is an HTTP response kept by the output cache.
type Response struct {
	Status      int    `json:"status"`
	ContentType string `json:"contentType"`
	ETag        string `json:"etag"`
	Body        []byte `json:"body"`
}

// Output returns the cached response at key if it was stored under the
// tag's current version. The tag version is read first and must be passed
// to StoreOutput: a response built after an eviction then carries the new
// version, and one built before it carries the old one and is never served.
func (c *Cache) Output(ctx context.Context, key Key, tag string) (resp Response, tagVersion int64, hit bool, err error) {
	gen := c.generation()
	tagVersion, err = c.store.TagVersion(ctx, c.cfg.Keys.TagVersion(gen, tag))
	if err != nil {
		return resp, 0, false, err
	}
	entry, err := c.store.Get(ctx, c.cfg.Keys.Key(gen, key))
	if err != nil {
		return resp, 0, false, err
	}
	if entry.Found && !entry.Tombstone && entry.Version == tagVersion && json.Unmarshal(entry.Data, &resp) == nil {
		c.count(key.Family, app.CacheHit)
		return resp, tagVersion, true, nil
	}
	c.count(key.Family, app.CacheMiss)
	return resp, tagVersion, false, nil
}

// StoreOutput caches a response under the tag version Output returned.
func (c *Cache) StoreOutput(ctx context.Context, key Key, tagVersion int64, resp Response) error {
	data, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	_, err = c.store.SetFenced(ctx, c.cfg.Keys.Key(c.generation(), key), tagVersion, data, key.Family.JitteredTTL())
	return err
}

// BumpTag makes every output-cache entry under tag stale at once, in every
// generation being written.
func (c *Cache) BumpTag(ctx context.Context, tag string) error {
	var err error
	for _, gen := range c.writeGenerations() {
		err = errors.Join(err, c.store.BumpTag(ctx, c.cfg.Keys.TagVersion(gen, tag)))
	}
	return err
}

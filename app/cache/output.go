package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/orderflow/orderflow/app"
)

// Response is an HTTP response kept by the output cache.
type Response struct {
	Status      int
	ContentType string
	ETag        string
	Body        []byte
}

// Output returns the cached response at key if it was stored under the
// tag's current version. The tag version is read first and must be passed
// to StoreOutput: a response built after an eviction then carries the new
// version, and one built before it carries the old one and is never served.
func (c *Cache) Output(ctx context.Context, key Key, tag string) (resp Response, tagVersion int64, hit bool, err error) {
	gen := c.generation()
	entry, tagVersion, err := c.store.GetTagged(ctx, c.cfg.Keys.Key(gen, key), c.cfg.Keys.TagVersion(gen, tag))
	if err != nil {
		return resp, 0, false, err
	}
	if entry.Found && !entry.Tombstone && entry.Version == tagVersion {
		if resp, ok := decodeResponse(entry.Data); ok {
			c.count(key.Family, app.CacheHit)
			return resp, tagVersion, true, nil
		}
	}
	c.count(key.Family, app.CacheMiss)
	return resp, tagVersion, false, nil
}

// StoreOutput caches a response under the tag version Output returned.
func (c *Cache) StoreOutput(ctx context.Context, key Key, tagVersion int64, resp Response) error {
	data, err := encodeResponse(resp)
	if err != nil {
		return err
	}
	_, err = c.store.SetFenced(ctx, c.cfg.Keys.Key(c.generation(), key), tagVersion, data, key.Family.JitteredTTL())
	return err
}

// A stored response is three header lines (status, content type, entity
// tag) and the body as is: JSON would carry the body base64-encoded, and
// decoding that on every hit cost more than the rest of the hit.

func encodeResponse(resp Response) ([]byte, error) {
	if strings.ContainsAny(resp.ContentType, "\n") || strings.ContainsAny(resp.ETag, "\n") {
		return nil, fmt.Errorf("encode response: a header holds a line break")
	}
	head := strconv.Itoa(resp.Status) + "\n" + resp.ContentType + "\n" + resp.ETag + "\n"
	return append([]byte(head), resp.Body...), nil
}

// decodeResponse reads what encodeResponse wrote; anything else (an entry
// of an older encoding) is a miss.
func decodeResponse(data []byte) (Response, bool) {
	var fields [3][]byte
	rest := data
	for i := range fields {
		line, after, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			return Response{}, false
		}
		fields[i], rest = line, after
	}
	status, err := strconv.Atoi(string(fields[0]))
	if err != nil {
		return Response{}, false
	}
	return Response{Status: status, ContentType: string(fields[1]), ETag: string(fields[2]), Body: rest}, true
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

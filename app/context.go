package app

import (
	"context"
	"time"
)

type metadataKey struct{}

// WithMetadata returns a context whose commands stamp md on every event they append.
func WithMetadata(ctx context.Context, md Metadata) context.Context {
	return context.WithValue(ctx, metadataKey{}, md)
}

// MetadataFrom returns the metadata set by WithMetadata, or the zero value.
func MetadataFrom(ctx context.Context) Metadata {
	md, _ := ctx.Value(metadataKey{}).(Metadata)
	return md
}

type readOptionsKey struct{}

// ReadOptions is what a read may accept beyond the default, and what the
// cache reports back about how it answered. The default (no options) is a
// read that is never older than a write acknowledged before it was sent.
type ReadOptions struct {
	// MaxStale, when positive, lets the near cache answer with a value last
	// known current up to this long ago, without asking Redis (HTTP's
	// Cache-Control: max-stale=N).
	MaxStale time.Duration
	// Age is set by the cache when it answered from the near cache: how long
	// ago the value was last known current. Zero otherwise.
	Age time.Duration
}

// WithReadOptions returns a context whose reads follow opts; the cache
// writes Age back into opts.
func WithReadOptions(ctx context.Context, opts *ReadOptions) context.Context {
	return context.WithValue(ctx, readOptionsKey{}, opts)
}

// ReadOptionsFrom returns the options set by WithReadOptions, or nil.
func ReadOptionsFrom(ctx context.Context) *ReadOptions {
	opts, _ := ctx.Value(readOptionsKey{}).(*ReadOptions)
	return opts
}

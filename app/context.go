package app

import "context"

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

// Package mock holds in-memory fakes of the projections' ports, for unit
// tests of their policies: each is a struct of functions a test sets.
package mock

import (
	"context"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/projections"
)

var _ projections.ReplaySource = (*ReplaySource)(nil)

// ReplaySource is a projections.ReplaySource.
type ReplaySource struct {
	NameFn     func() string
	EstimateFn func(ctx context.Context) (int64, error)
	ReadFn     func(ctx context.Context, cursor string, limit int) ([]app.RecordedEvent, string, error)
}

// Name calls NameFn.
func (s *ReplaySource) Name() string { return s.NameFn() }

// Estimate calls EstimateFn.
func (s *ReplaySource) Estimate(ctx context.Context) (int64, error) { return s.EstimateFn(ctx) }

// Read calls ReadFn.
func (s *ReplaySource) Read(ctx context.Context, cursor string, limit int) ([]app.RecordedEvent, string, error) {
	return s.ReadFn(ctx, cursor, limit)
}

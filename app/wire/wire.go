// Package wire builds the Application from its ports: every command handler
// over the event store, every query handler over the read model, both
// through the cache. Mains and tests build it with one call; it sits apart
// from app because app/command and app/query import app.
package wire

import (
	"errors"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/command"
	"github.com/orderflow/orderflow/app/query"
)

// New wires every handler to its ports. c may be nil: reads then go straight
// to the read model and commands evict nothing.
func New(store app.Store, reads app.ReadModel, c *cache.Cache) (*app.Application, error) {
	if store == nil || reads == nil {
		return nil, errors.New("app: store and read model are required")
	}
	commands, err := command.New(store, c)
	if err != nil {
		return nil, err
	}
	queries, err := query.New(reads, c)
	if err != nil {
		return nil, err
	}
	return &app.Application{Commands: commands, Queries: queries}, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orderflow/orderflow/adapters/postgres"
	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/cmd/internal/service"
	"github.com/orderflow/orderflow/projections"
)

// run consumes the streams until ctx ends, then drains running handlers.
func (m *Main) run(ctx context.Context, d *deps) error {
	registry := service.NewRegistry()
	cacheMetrics, err := orderflowredis.NewCacheMetrics(registry)
	if err != nil {
		return err
	}
	metrics, err := newProjectorMetrics(registry)
	if err != nil {
		return err
	}
	cache, _, err := m.newCache(d, cacheMetrics)
	if err != nil {
		return err
	}
	store := postgres.NewStore(d.pool)
	refresher, err := projections.NewRefresher(store, cache)
	if err != nil {
		return err
	}
	observer := &beatObserver{next: metrics}
	handler := streams.Handler(projections.New(refresher), app.NewEventCodec(), observer)
	subscriberClient, err := orderflowredis.NewClient(d.redisURL, orderflowredis.PoolOptions{})
	if err != nil {
		return err
	}
	deadLetterClient, err := orderflowredis.NewClient(d.redisURL, orderflowredis.PoolOptions{})
	if err != nil {
		return err
	}
	router, err := streams.NewProjectorRouter(streams.ProjectorConfig{
		SubscriberClient: subscriberClient,
		DeadLetterClient: deadLetterClient,
		Keys:             d.keys,
		ConsumerGroup:    m.Config.ConsumerGroup,
		Consumer:         m.Config.Consumer,
		Workers:          m.Config.Workers,
		MaxRetries:       streams.RetriesOf(m.Config.MaxRetries),
		MaxIdleTime:      m.Config.MaxIdleTime,
		CloseTimeout:     m.Config.ShutdownTimeout,
		Logger:           d.logger,
	}, handler)
	if err != nil {
		return err
	}

	ready := func(ctx context.Context) error {
		if !router.IsRunning() {
			return errors.New("router not running")
		}
		return errors.Join(d.pool.Ping(ctx), d.cacheClient.Ping(ctx).Err())
	}
	ops, err := service.StartOps(ctx, service.Ops{Addr: m.Config.HTTPAddr, Logger: d.logger, Ready: ready, Gatherer: registry, Drain: m.Config.ShutdownTimeout, Listening: m.Ready})
	if err != nil {
		return err
	}
	defer ops.Stop()
	go streams.SampleLag(ctx, d.cacheClient, d.keys, m.Config.ConsumerGroup, 2*time.Second, metrics.observeLag, metrics.observeDeadLetters)

	go cache.WatchGenerations(ctx)
	go m.serveConsole(ctx, d, observer)
	go streams.KeepGroups(ctx, subscriberClient, d.keys, m.Config.ConsumerGroup, time.Second, d.logger)
	d.logger.Info("projecting", "consumer", m.Config.Consumer, "group", m.Config.ConsumerGroup)
	// Run returns once ctx ended and the Router closed: handlers drained
	// first, then the subscriber; redelivery after a restart is expected.
	if err := router.Run(ctx); err != nil && !(ctx.Err() != nil && errors.Is(err, context.Canceled)) {
		// A stop during start-up cancels the subscriptions still being
		// opened (many with several stream shards): that is no failure.
		return fmt.Errorf("router: %w", err)
	}
	d.logger.Info("stopped projecting")
	return nil
}

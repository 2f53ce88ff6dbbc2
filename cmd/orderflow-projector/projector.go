package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/adapters/postgres"
	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/cmd/internal/service"
	"github.com/orderflow/orderflow/migrations"
	"github.com/orderflow/orderflow/projections"
)

// Config is orderflow-projector's settings.
type Config struct {
	DatabaseURL     string
	RedisURL        string
	HTTPAddr        string
	KeyPrefix       string
	StreamShards    int
	Consumer        string
	ConsumerGroup   string
	MaxRetries      int
	Workers         int
	MaxIdleTime     time.Duration
	ShutdownTimeout time.Duration
	DLQAll          bool
	ReplayFrom      string
	Logging         service.Logging
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("database URL is required (ORDERFLOW_DATABASE_URL or --database-url)"))
	}
	if c.Consumer == "" {
		errs = append(errs, errors.New("consumer name is required"))
	}
	if c.Workers < 1 || c.Workers > 64 {
		errs = append(errs, errors.New("projector-workers must be 1 to 64"))
	}
	if c.StreamShards < 1 || c.StreamShards > 64 {
		errs = append(errs, errors.New("stream-shards must be 1 to 64"))
	}
	if c.MaxRetries < 0 || c.MaxRetries > 20 {
		errs = append(errs, errors.New("projector-max-retries must be 0 to 20"))
	}
	if c.ReplayFrom != "auto" && c.ReplayFrom != "streams" && c.ReplayFrom != "store" {
		errs = append(errs, errors.New("from must be auto, streams or store"))
	}
	if c.MaxIdleTime < time.Second || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("projector-max-idle must be at least 1s and shutdown-timeout positive"))
	}
	return errors.Join(errs...)
}

// Main is one run of orderflow-projector.
type Main struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)

	Config Config
	// Ready, when set, receives the ops server's bound address.
	Ready func(net.Addr)
}

// NewMain returns a Main reading settings from lookupEnv and flags.
func NewMain(stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) *Main {
	return &Main{stdout: stdout, stderr: stderr, lookupEnv: lookupEnv}
}

const usage = `orderflow-projector keeps the Redis read models current from the event
streams. Any number of instances share the work as one consumer group.

Usage:
  orderflow-projector [run] [flags]            consume the streams until SIGTERM
  orderflow-projector replay [flags]           rebuild every projection into a new key generation,
                                               then switch readers to it (--from=auto|streams|store)
  orderflow-projector verify [flags]           compare every cached projection with PostgreSQL;
                                               exit 1 on drift
  orderflow-projector dlq list [flags]         show parked (dead-letter) entries
  orderflow-projector dlq replay [flags] IDS   re-drive parked entries (--all for every one)
  orderflow-projector dlq drop [flags] IDS     delete parked entries (--all for every one)

Every flag can also be set by the environment variable named beside it.

Flags:
`

// ParseFlags reads the subcommand and settings; it returns the command and
// its remaining arguments.
func (m *Main) ParseFlags(args []string) (string, []string, error) {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run", "verify", "replay":
	case "dlq":
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return "", nil, errors.New("dlq needs list, replay or drop")
		}
		cmd, args = "dlq "+args[0], args[1:]
		switch cmd {
		case "dlq list", "dlq replay", "dlq drop":
		default:
			return "", nil, fmt.Errorf("unknown command %q", cmd)
		}
	case "help":
		args = []string{"--help"}
	default:
		return "", nil, fmt.Errorf("unknown command %q (want run, verify or dlq)", cmd)
	}
	host, _ := os.Hostname()
	fs := service.NewFlags("orderflow-projector", m.lookupEnv)
	fs.SetOutput(m.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	c := &m.Config
	fs.String(&c.DatabaseURL, "database-url", "", "PostgreSQL URL")
	fs.String(&c.RedisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis URL, or a Redis Cluster's comma-separated nodes")
	fs.String(&c.HTTPAddr, "projector-http-addr", "127.0.0.1:8082", "address of /healthz, /readyz and /metrics")
	fs.String(&c.KeyPrefix, "key-prefix", cache.DefaultKeyPrefix, "prefix of every Redis key")
	fs.Int(&c.StreamShards, "stream-shards", 1, "event stream shards; every relay and projector must use the same")
	fs.String(&c.Consumer, "consumer", host, "this instance's stable name in the consumer group")
	fs.String(&c.ConsumerGroup, "consumer-group", streams.DefaultConsumerGroup, "the consumer group all instances share")
	fs.Int(&c.Workers, "projector-workers", 4, "entries of each stream this instance projects at once (each a consumer of its own)")
	fs.Int(&c.MaxRetries, "projector-max-retries", 3, "re-runs of a failing handler before its entry is parked in the dead-letter stream")
	fs.Duration(&c.MaxIdleTime, "projector-max-idle", 30*time.Second, "how long an entry may stay pending before a peer claims it")
	fs.Duration(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long running handlers may take to finish on SIGTERM")
	fs.Bool(&c.DLQAll, "all", false, "dlq replay/drop: every parked entry")
	fs.String(&c.ReplayFrom, "from", "auto", "replay: read the streams, the event store, or auto (streams; the store when they were trimmed)")
	c.Logging.Register(fs)
	if err := fs.Parse(args); err != nil {
		return "", nil, err
	}
	return cmd, fs.Args(), c.Validate()
}

// deps are what every subcommand opens.
type deps struct {
	logger *slog.Logger
	pool   *pgxpool.Pool
	keys   streams.Keys
	// cacheClient serves the cache service; the subscriber and the
	// dead-letter publisher get their own, since closing them closes their client.
	cacheClient redis.UniversalClient
	redisURL    string
}

func (d *deps) close() {
	if d.cacheClient != nil {
		_ = d.cacheClient.Close()
	}
	if d.pool != nil {
		d.pool.Close()
	}
}

// Run parses args and runs the subcommand until ctx ends.
func (m *Main) Run(ctx context.Context, args []string) error {
	cmd, rest, err := m.ParseFlags(args)
	if err != nil {
		return err
	}
	d := &deps{keys: streams.Keys{Prefix: m.Config.KeyPrefix, StreamShards: m.Config.StreamShards}}
	if d.logger, err = m.Config.Logging.NewLogger(m.stderr); err != nil {
		return err
	}
	if err := migrations.Up(ctx, m.Config.DatabaseURL); err != nil {
		return err
	}
	if d.pool, err = pgxpool.New(ctx, m.Config.DatabaseURL); err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer d.close()
	d.redisURL = m.Config.RedisURL
	if d.cacheClient, err = orderflowredis.NewClient(d.redisURL, orderflowredis.PoolOptions{}); err != nil {
		return err
	}
	if err := streams.AwaitStreamShards(ctx, d.logger, d.cacheClient, d.keys); err != nil {
		return err
	}

	switch cmd {
	case "verify":
		return m.verify(ctx, d)
	case "replay":
		return m.replay(ctx, d)
	case "dlq list", "dlq replay", "dlq drop":
		return m.deadLetters(ctx, d, cmd, rest)
	default:
		if len(rest) > 0 {
			return fmt.Errorf("unexpected arguments: %v", rest)
		}
		return m.run(ctx, d)
	}
}

func (m *Main) newCache(d *deps, metrics *orderflowredis.CacheMetrics) (*cache.Cache, *orderflowredis.CacheStore, error) {
	cfg := orderflowredis.BreakerConfig{}
	appCfg := cache.Config{Keys: cache.Keyspace{Prefix: d.keys.Prefix}}
	if metrics != nil {
		cfg.OnStateChange = metrics.BreakerChanged
		appCfg.OnStoreGet = metrics.ObserveRedis
		appCfg.OnLoad = metrics.ObserveLoad
	}
	store := orderflowredis.NewCacheStore(d.cacheClient, cfg)
	cache, err := cache.New(store, appCfg)
	return cache, store, err
}

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
	handler := streams.Handler(projections.New(refresher), app.NewEventCodec(), metrics)
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
	opsCtx, stopOps := context.WithCancel(context.WithoutCancel(ctx))
	opsDone := make(chan error, 1)
	go func() {
		opsDone <- service.ListenAndServe(opsCtx, d.logger, m.Config.HTTPAddr, service.OpsHandler(d.logger, ready, registry), m.Config.ShutdownTimeout, m.Ready)
	}()
	defer func() {
		stopOps()
		<-opsDone
	}()
	go streams.SampleLag(ctx, d.cacheClient, d.keys, m.Config.ConsumerGroup, 2*time.Second, metrics.observeLag, metrics.observeDeadLetters)

	go cache.WatchGenerations(ctx)
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

// verify compares every cached projection with PostgreSQL.
func (m *Main) verify(ctx context.Context, d *deps) error {
	cache, store, err := m.newCache(d, nil)
	if err != nil {
		return err
	}
	if err := cache.RefreshGenerations(ctx); err != nil {
		return fmt.Errorf("read generation: %w", err)
	}
	start := time.Now()
	events := postgres.NewStore(d.pool)
	drift, err := projections.Verify(ctx, cache, store, events)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	fmt.Fprintf(m.stdout, "verify: %d cached projections checked in %s, %d drifted (%d differed at first and agreed when read again)\n",
		drift.Checked, time.Since(start).Round(time.Millisecond), drift.Drifted, drift.Rechecked)
	for _, s := range drift.Samples {
		fmt.Fprintln(m.stdout, "  drift:", s)
	}
	if drift.Drifted > 0 {
		return fmt.Errorf("%d cached projections drifted from PostgreSQL", drift.Drifted)
	}
	if drift.Checked > 0 {
		return nil
	}
	// Nothing compared is no evidence of agreement. With events in the log
	// the usual cause is verifying the wrong Redis or key prefix, so it
	// fails; a quiet system whose entries all expired fails too, and a
	// replay (which writes every projection) makes verify meaningful again.
	logged, err := postgres.NewReplaySource(events).Estimate(ctx)
	if err != nil {
		return fmt.Errorf("verify: count events: %w", err)
	}
	if logged > 0 {
		fmt.Fprintf(m.stdout, "verify: nothing was compared although the event log holds %d events: "+
			"the cache is empty under prefix %q (another Redis or key prefix, lost or expired entries); run replay to rebuild it\n",
			logged, m.Config.KeyPrefix)
		return fmt.Errorf("verify checked no cached projection while the event log holds %d events", logged)
	}
	fmt.Fprintln(m.stdout, "verify: the event log is empty, so there is nothing to compare")
	return nil
}

// deadLetters lists, re-drives or drops parked entries.
func (m *Main) deadLetters(ctx context.Context, d *deps, cmd string, ids []string) error {
	dl := streams.NewDeadLetters(d.cacheClient, d.keys)
	if cmd != "dlq list" && m.Config.DLQAll {
		parked, err := dl.List(ctx, 1_000_000)
		if err != nil {
			return err
		}
		for _, p := range parked {
			ids = append(ids, p.ID)
		}
	}
	switch cmd {
	case "dlq list":
		parked, err := dl.List(ctx, 1000)
		if err != nil {
			return err
		}
		fmt.Fprintf(m.stdout, "%d parked entries\n", len(parked))
		for _, p := range parked {
			fmt.Fprintf(m.stdout, "%s  %s  event %s %s %s v%s pos %s  attempts %s  error: %s\n",
				p.ID, p.Stream, p.EventID, p.EventType, p.AggregateID, p.Version, p.Position, p.Attempts, p.Error)
		}
		return nil
	case "dlq replay":
		n, err := dl.Replay(ctx, ids)
		fmt.Fprintf(m.stdout, "re-drove %d of %d parked entries\n", n, len(ids))
		return err
	default:
		n, err := dl.Drop(ctx, ids)
		fmt.Fprintf(m.stdout, "dropped %d parked entries\n", n)
		return err
	}
}

// replayMemoryLimit keeps the replay's heap, which holds every aggregate's
// folded state, within the 150 MiB budget by collecting sooner; GOMEMLIMIT
// overrides it.
const replayMemoryLimit = 110 << 20

// replay rebuilds every projection into a new generation and switches to it.
func (m *Main) replay(ctx context.Context, d *deps) error {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(replayMemoryLimit)
	}
	cache, store, err := m.newCache(d, nil)
	if err != nil {
		return err
	}
	cfg := projections.ReplayConfig{Progress: func(p projections.ReplayProgress) {
		fmt.Fprintf(m.stdout, "replay: %s: %d/%d events, %.0f events/s, ETA %s\n",
			p.Source, p.Events, p.Estimate, p.Rate(), p.ETA().Round(time.Second))
	}}
	events := postgres.NewStore(d.pool)
	fromStore := postgres.NewReplaySource(events)
	fromStore.HeldBack = func() {
		fmt.Fprintln(m.stdout, "replay: waiting for transactions in flight to end: events committed after they began are not readable before")
	}
	sources := projections.Sources{
		Streams: streams.NewReplaySource(d.cacheClient, d.keys, events),
		Store:   fromStore,
		FellBack: func(reason error) {
			fmt.Fprintf(m.stdout, "replay: the streams were trimmed (%v); reading the event store instead\n", reason)
		},
	}
	sum, err := projections.ReplayFrom(ctx, projections.SourceChoice(m.Config.ReplayFrom), sources,
		func(ctx context.Context, source projections.ReplaySource) (projections.ReplaySummary, error) {
			return projections.Replay(ctx, cache, store, source, cfg)
		})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	fmt.Fprintf(m.stdout, "replay: done from the %s: %d events folded, %d keys written into generation %q in %s (%.0f events/s); readers switched from %q; %d old keys deleted; %s in all\n",
		sum.Source, sum.Events, sum.Written, sum.Generation, sum.Rebuild.Round(time.Millisecond),
		float64(sum.Events)/max(sum.Rebuild.Seconds(), 1e-9), sum.Previous, sum.DeletedOldKeys, sum.Elapsed.Round(time.Millisecond))
	return nil
}

package main

// The bench's Main: settings with their per-mode defaults, the servers it
// starts and the order of the suites. The settings and their defaults must be
// read together, so this file passes 400 lines.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/cmd/internal/service"
)

// Config is orderflow-bench's settings. Zero durations and sizes mean "the
// default for the mode" (full or --quick); the methods of the same names
// resolve them.
type Config struct {
	DatabaseURL     string
	DatabaseConns   int
	RedisURL        string
	Clients         int
	Quick           bool
	PhaseDuration   time.Duration
	RoundCount      int
	LongStreamLen   int
	LoadIters       int
	LoadBudgetTime  time.Duration
	StampedeGets    int
	StampedeKeyN    int
	RelayBacklogLen int
	OpenLoopTime    time.Duration
	ProjectorLogLen int
	MixTime         time.Duration
	MixWarmupTime   time.Duration
	MixRaceTime     time.Duration
	MixRate         int
	MixProductN     int
	MixCustomerN    int
	APIBin          string
	BinDir          string
	ResultsDir      string
	KeepDatabase    bool
	ReadyTimeout    time.Duration
	SeedProducts    int
	SeedCustomers   int
	ProductStock    int
	ProgressPeriod  time.Duration
	CPUProfile      string
}

// Defaults of the full run and of --quick.
const (
	defaultConns           = 16 // orderflow-api's default pool size
	defaultClients         = 16
	defaultDuration        = 15 * time.Second
	quickDuration          = 2 * time.Second
	defaultRounds          = 5
	quickRounds            = 3
	defaultLongStream      = 100_000
	quickLongStream        = 10_000
	defaultLoadIterations  = 2_000
	quickLoadIterations    = 500
	defaultLoadBudget      = time.Minute
	quickLoadBudget        = 10 * time.Second
	defaultStampedeGets    = 1_000
	defaultStampedeKeys    = 5
	quickStampedeKeys      = 2
	defaultRelayBacklog    = 200_000
	quickRelayBacklog      = 20_000
	defaultOpenLoop        = 15 * time.Second
	quickOpenLoop          = 3 * time.Second
	defaultProjectorLog    = 1_000_000
	quickProjectorLog      = 20_000
	defaultMix             = time.Minute
	quickMix               = 2 * time.Second
	defaultMixWarmup       = 10 * time.Second
	quickMixWarmup         = time.Second
	defaultMixRace         = 10 * time.Second
	quickMixRace           = 2 * time.Second
	defaultMixProducts     = 10_000
	quickMixProducts       = 1_000
	defaultMixCustomers    = 2_000
	quickMixCustomers      = 200
	defaultCalibrationTime = 5 * time.Second
	quickCalibrationTime   = time.Second
	// longStreamChunk is how many events one transaction appends while the
	// long stream is built.
	longStreamChunk = 1_000
)

// pick returns set when it is given (non-zero), else the mode's default.
func pick[T comparable](set T, quick bool, full, short T) T {
	var zero T
	switch {
	case set != zero:
		return set
	case quick:
		return short
	default:
		return full
	}
}

// Duration is how long each timed phase runs.
func (c Config) Duration() time.Duration {
	return pick(c.PhaseDuration, c.Quick, defaultDuration, quickDuration)
}

// Rounds is how many slices each timed phase is cut into, alternating with
// the phase it is compared with.
func (c Config) Rounds() int { return pick(c.RoundCount, c.Quick, defaultRounds, quickRounds) }

// LongStream is the number of events of the long product stream.
func (c Config) LongStream() int {
	return pick(c.LongStreamLen, c.Quick, defaultLongStream, quickLongStream)
}

// LoadIterations is how many timed loads each product gets.
func (c Config) LoadIterations() int {
	return pick(c.LoadIters, c.Quick, defaultLoadIterations, quickLoadIterations)
}

// LoadBudget bounds the time spent timing loads: a slow load (a long stream
// that costs what its length costs) must not stretch the run without end.
func (c Config) LoadBudget() time.Duration {
	return pick(c.LoadBudgetTime, c.Quick, defaultLoadBudget, quickLoadBudget)
}

// StampedeKeys is how many cold keys the stampede is run on.
func (c Config) StampedeKeys() int {
	return pick(c.StampedeKeyN, c.Quick, defaultStampedeKeys, quickStampedeKeys)
}

// RelayBacklog is the number of events the relay drains.
func (c Config) RelayBacklog() int {
	return pick(c.RelayBacklogLen, c.Quick, defaultRelayBacklog, quickRelayBacklog)
}

// OpenLoop is how long the open-loop writers of the relay and projector
// suites run at half the maximum write rate.
func (c Config) OpenLoop() time.Duration {
	return pick(c.OpenLoopTime, c.Quick, defaultOpenLoop, quickOpenLoop)
}

// ProjectorLog is the number of events the projector suite replays.
func (c Config) ProjectorLog() int {
	return pick(c.ProjectorLogLen, c.Quick, defaultProjectorLog, quickProjectorLog)
}

// Mix is how long the realistic mix is measured, cached and uncached each.
func (c Config) Mix() time.Duration { return pick(c.MixTime, c.Quick, defaultMix, quickMix) }

// MixWarmup is how long the mix runs unmeasured before each measured window.
func (c Config) MixWarmup() time.Duration {
	return pick(c.MixWarmupTime, c.Quick, defaultMixWarmup, quickMixWarmup)
}

// MixRace is how long the race of concurrent writes and reads on page
// one's products runs after each window of the mix.
func (c Config) MixRace() time.Duration {
	return pick(c.MixRaceTime, c.Quick, defaultMixRace, quickMixRace)
}

// MixRequestRate is the mix's fixed request rate per second (reads and
// writes); 0 means half the closed-loop maximum of the uncached mix,
// measured first.
func (c Config) MixRequestRate() float64 { return float64(c.MixRate) }

// MixProducts is the number of products the mix's Zipf draws from.
func (c Config) MixProducts() int {
	return pick(c.MixProductN, c.Quick, defaultMixProducts, quickMixProducts)
}

// MixCustomers is the number of customers the mix's Zipf draws from.
func (c Config) MixCustomers() int {
	return pick(c.MixCustomerN, c.Quick, defaultMixCustomers, quickMixCustomers)
}

// Calibration is how long the closed loop that finds the maximum write rate runs.
func (c Config) Calibration() time.Duration {
	if c.Quick {
		return quickCalibrationTime
	}
	return defaultCalibrationTime
}

// Validate reports settings that cannot work, before anything starts.
func (c Config) Validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("database URL is required (ORDERFLOW_DATABASE_URL or --database-url)"))
	}
	if c.DatabaseConns < 1 {
		errs = append(errs, errors.New("database-conns must be at least 1"))
	}
	if c.Clients < 1 {
		errs = append(errs, errors.New("clients must be at least 1"))
	}
	if c.PhaseDuration < 0 || c.RoundCount < 0 || c.LongStreamLen < 0 || c.LoadIters < 0 || c.LoadBudgetTime < 0 ||
		c.StampedeKeyN < 0 || c.RelayBacklogLen < 0 || c.OpenLoopTime < 0 || c.ProjectorLogLen < 0 ||
		c.MixTime < 0 || c.MixWarmupTime < 0 || c.MixRaceTime < 0 || c.MixRate < 0 || c.MixProductN < 0 || c.MixCustomerN < 0 {
		errs = append(errs, errors.New("durations, rounds and sizes must not be negative"))
	}
	if c.LongStreamLen > 0 && c.LongStreamLen%longStreamChunk != 0 {
		errs = append(errs, fmt.Errorf("long-stream must be a multiple of %d", longStreamChunk))
	}
	if c.StampedeGets < 2 {
		errs = append(errs, errors.New("stampede-gets must be at least 2 (they are split over two API processes)"))
	}
	if c.SeedProducts < 3 || c.SeedCustomers < 1 {
		errs = append(errs, errors.New("products must be at least 3 and customers at least 1"))
	}
	if c.ProductStock < 1 {
		errs = append(errs, errors.New("product-stock must be positive"))
	}
	if c.ReadyTimeout <= 0 || c.ProgressPeriod <= 0 {
		errs = append(errs, errors.New("ready-timeout and progress must be positive"))
	}
	return errors.Join(errs...)
}

// reproduceArgs lists the settings that differ from the defaults, as flags,
// so that the printed command reproduces this run. Server addresses are left
// out: make bench starts its own servers.
func (c Config) reproduceArgs() []string {
	var args []string
	add := func(differs bool, name string, value any) {
		if differs {
			args = append(args, fmt.Sprintf("--%s=%v", name, value))
		}
	}
	add(c.DatabaseConns != defaultConns, "database-conns", c.DatabaseConns)
	add(c.Clients != defaultClients, "clients", c.Clients)
	add(c.PhaseDuration != 0, "duration", c.PhaseDuration)
	add(c.RoundCount != 0, "rounds", c.RoundCount)
	add(c.LongStreamLen != 0, "long-stream", c.LongStreamLen)
	add(c.LoadIters != 0, "load-iterations", c.LoadIters)
	add(c.LoadBudgetTime != 0, "load-budget", c.LoadBudgetTime)
	add(c.StampedeGets != defaultStampedeGets, "stampede-gets", c.StampedeGets)
	add(c.StampedeKeyN != 0, "stampede-keys", c.StampedeKeyN)
	add(c.RelayBacklogLen != 0, "relay-backlog", c.RelayBacklogLen)
	add(c.OpenLoopTime != 0, "open-loop", c.OpenLoopTime)
	add(c.ProjectorLogLen != 0, "projector-log", c.ProjectorLogLen)
	add(c.MixTime != 0, "mix-duration", c.MixTime)
	add(c.MixWarmupTime != 0, "mix-warmup", c.MixWarmupTime)
	add(c.MixRaceTime != 0, "mix-race", c.MixRaceTime)
	add(c.MixRate != 0, "mix-rate", c.MixRate)
	add(c.MixProductN != 0, "mix-products", c.MixProductN)
	add(c.MixCustomerN != 0, "mix-customers", c.MixCustomerN)
	add(c.SeedProducts != 200, "products", c.SeedProducts)
	add(c.SeedCustomers != 100, "customers", c.SeedCustomers)
	add(c.ProductStock != 10_000_000, "product-stock", c.ProductStock)
	return args
}

// reproduceCommand is the make command line that repeats this run of suite.
func (c Config) reproduceCommand(suite string) string {
	cmd := "make bench"
	if c.Quick {
		cmd = "BENCH_QUICK=1 " + cmd
	}
	args := c.reproduceArgs()
	if suite != allSuites {
		args = append([]string{suite}, args...)
	}
	if len(args) > 0 {
		cmd += " ARGS='" + strings.Join(args, " ") + "'"
	}
	return cmd
}

// suite is one family of measurements, chosen by the first argument.
type suite struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, r *Report) error
}

// allSuites is the name that runs every suite in turn, the default.
const allSuites = "all"

// suites lists every suite in the order "all" runs them; each lives in its own file.
func suites() []suite {
	return []suite{
		{name: "write", summary: "bare append baseline, POST /api/v1/orders through the real API, aggregate load cost", run: runWrite},
		{name: "read", summary: "cached GETs through the real API against Echo, Echo+Redis and Echo+pgx baselines; uncached list; stampede over two APIs", run: runRead},
		{name: "relay", summary: "orderflow-relay: backlog drain rate against the bare append ceiling; commit → XADD latency in an open loop", run: runRelay},
		{name: "projector", summary: "orderflow-projector: replay rate from the streams and the store against a bare XRANGE; freshness at half the maximum write rate", run: runProjector},
		{name: "mix", summary: "realistic mix, Zipf over products and customers, 1 % writes: closed-loop maximum and PostgreSQL CPU per 100 reads; open loop: hit ratio per key family, PostgreSQL queries per 100 reads, latency, stale reads; cached against ORDERFLOW_CACHE=false", run: runMix},
	}
}

// Main is one run of orderflow-bench: its settings and where it writes.
type Main struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)

	Config Config
}

// NewMain returns a Main reading settings from lookupEnv and flags.
func NewMain(stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) *Main {
	return &Main{stdout: stdout, stderr: stderr, lookupEnv: lookupEnv}
}

const usageHead = `orderflow-bench measures OrderFlow on this machine. Every figure is printed
beside a baseline measured in the same run, with their ratio, so results from
a noisy or shared machine stay comparable. Each suite creates its own database
(bench_<timestamp>_<suite>) on the server of --database-url, migrates it and
drops it at the end, and uses its own Redis key prefix, deleted at the end.
Results go to <results-dir>/<date>-<suite>.md and .json (<date>-<suite>-quick.*
with --quick; the suite "all" writes one report of every suite). The exit
status is 1 when a suite did not finish or a correctness goal was missed (a
failed request, more than one PostgreSQL load in a stampede, an event
missing from the stream or not projected, a stale read), with a line naming
each; speed goals are reported in the table, never enforced, since a shared
machine can miss them through no fault of the code.

Usage:
  orderflow-bench [SUITE] [flags]

Suites:
  all      every suite below in turn, into one report (the default)
`

// usageInternal lists what the suites start this binary for.
const usageInternal = `
Internal:
  ` + serveBaselinesCommand + `  the read suite's baseline server, which the suite starts as a process
                   of its own from ORDERFLOW_DATABASE_URL, ORDERFLOW_REDIS_URL,
                   ORDERFLOW_KEY_PREFIX, ORDERFLOW_DATABASE_CONNS, ORDERFLOW_HTTP_ADDR
`

const usageFlags = `
make bench runs every suite against throwaway servers (scripts/bench.sh);
BENCH_QUICK=1 make bench is the same with --quick. Extra arguments, a suite
first: make bench ARGS='read --clients=8'.

Every flag can also be set by the environment variable named beside it;
a flag given on the command line wins.

Flags:
`

// ParseFlags reads the suites to run and the settings from args and the
// environment. It returns the suites and the name of the report.
func (m *Main) ParseFlags(args []string) ([]suite, string, error) {
	all := suites()
	fs := service.NewFlags("orderflow-bench", m.lookupEnv)
	fs.SetOutput(m.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		for _, s := range all {
			fmt.Fprintf(fs.Output(), "  %-8s %s\n", s.name, s.summary)
		}
		fmt.Fprint(fs.Output(), usageInternal)
		fmt.Fprint(fs.Output(), usageFlags)
		fs.PrintDefaults()
	}
	name := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		args = []string{"--help"}
	}
	c := &m.Config
	fs.String(&c.DatabaseURL, "database-url", "", "PostgreSQL URL; each suite's database is created on this server")
	fs.Int(&c.DatabaseConns, "database-conns", defaultConns, "PostgreSQL pool size of the baselines and of the API under test")
	fs.String(&c.RedisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis URL of the baselines and of the processes under test")
	fs.Int(&c.Clients, "clients", defaultClients, "parallel clients of every closed-loop phase but the mix's maximum, which searches for its own")
	fs.Bool(&c.Quick, "quick", false, "short phases and small logs: a smoke run of every suite under two minutes")
	fs.Duration(&c.PhaseDuration, "duration", 0, "total length of each timed closed-loop phase (default 15s, 3s with --quick)")
	fs.Int(&c.RoundCount, "rounds", 0, fmt.Sprintf("slices each timed phase is cut into, alternating with its baseline's so drift hits both (default %d, %d with --quick)", defaultRounds, quickRounds))
	fs.Int(&c.LongStreamLen, "long-stream", 0, fmt.Sprintf("write: events in the long product stream, a multiple of %d (default %d, %d with --quick)", longStreamChunk, defaultLongStream, quickLongStream))
	fs.Int(&c.LoadIters, "load-iterations", 0, fmt.Sprintf("write: timed loads of each product (default %d, %d with --quick)", defaultLoadIterations, quickLoadIterations))
	fs.Duration(&c.LoadBudgetTime, "load-budget", 0, fmt.Sprintf("write: time limit of the timed loads; fewer are timed when it runs out (default %s, %s with --quick)", defaultLoadBudget, quickLoadBudget))
	fs.Int(&c.StampedeGets, "stampede-gets", defaultStampedeGets, "read: concurrent GETs of one cold key, split over two API processes")
	fs.Int(&c.StampedeKeyN, "stampede-keys", 0, fmt.Sprintf("read: cold keys the stampede is repeated on (default %d, %d with --quick)", defaultStampedeKeys, quickStampedeKeys))
	fs.Int(&c.RelayBacklogLen, "relay-backlog", 0, fmt.Sprintf("relay: events appended before the relay starts (default %d, %d with --quick)", defaultRelayBacklog, quickRelayBacklog))
	fs.Duration(&c.OpenLoopTime, "open-loop", 0, fmt.Sprintf("relay, projector: length of the open-loop writer at half the maximum rate (default %s, %s with --quick)", defaultOpenLoop, quickOpenLoop))
	fs.Int(&c.ProjectorLogLen, "projector-log", 0, fmt.Sprintf("projector: events in the log that is replayed (default %d, %d with --quick)", defaultProjectorLog, quickProjectorLog))
	fs.Duration(&c.MixTime, "mix-duration", 0, fmt.Sprintf("mix: measured window, cached and uncached each (default %s, %s with --quick)", defaultMix, quickMix))
	fs.Duration(&c.MixWarmupTime, "mix-warmup", 0, fmt.Sprintf("mix: unmeasured run of the mix before each window (default %s, %s with --quick)", defaultMixWarmup, quickMixWarmup))
	fs.Duration(&c.MixRaceTime, "mix-race", 0, fmt.Sprintf("mix: race of concurrent price changes, orders and reads on page one's products after each window, for the stale-read check (default %s, %s with --quick)", defaultMixRace, quickMixRace))
	fs.Int(&c.MixRate, "mix-rate", 0, "mix: requests per second of the open loop (default: half the closed-loop maximum of the uncached mix, found first)")
	fs.Int(&c.MixProductN, "mix-products", 0, fmt.Sprintf("mix: products seeded and drawn from (default %s, %s with --quick)", thousands(defaultMixProducts), thousands(quickMixProducts)))
	fs.Int(&c.MixCustomerN, "mix-customers", 0, fmt.Sprintf("mix: customers seeded and drawn from (default %s, %s with --quick)", thousands(defaultMixCustomers), thousands(quickMixCustomers)))
	fs.Int(&c.SeedProducts, "products", 200, "write, read: products created through the API")
	fs.Int(&c.SeedCustomers, "customers", 100, "write, read: customers created through the API")
	fs.Int(&c.ProductStock, "product-stock", 10_000_000, "initial stock of each seeded product")
	fs.String(&c.APIBin, "api-bin", "", "orderflow-api binary to start (default: orderflow-api in --bin-dir)")
	fs.String(&c.BinDir, "bin-dir", "", "folder of orderflow-api, orderflow-relay and orderflow-projector (default: beside this binary)")
	fs.Duration(&c.ReadyTimeout, "ready-timeout", 15*time.Second, "how long a started process may take to answer /readyz")
	fs.String(&c.ResultsDir, "results-dir", "bench/results", "folder the result files are written to (\"\" writes none)")
	fs.Bool(&c.KeepDatabase, "keep-database", false, "keep each suite's database and Redis keys for inspection instead of dropping them")
	fs.Duration(&c.ProgressPeriod, "progress", 3*time.Second, "interval of progress lines during long phases")
	fs.String(&c.CPUProfile, "cpu-profile", "", "read: write a CPU profile of the cached orderflow-api over its read phases to this file, for go tool pprof (at most 60 s are sampled)")
	if err := fs.Parse(args); err != nil {
		return nil, "", err
	}
	if fs.NArg() > 0 {
		return nil, "", fmt.Errorf("unexpected arguments: %v (the suite comes first)", fs.Args())
	}
	if name == "" {
		name = allSuites
	}
	if name == allSuites {
		return all, name, c.Validate()
	}
	for _, s := range all {
		if s.name == name {
			return []suite{s}, name, c.Validate()
		}
	}
	return nil, "", fmt.Errorf("unknown suite %q; run orderflow-bench --help for the list", name)
}

// env is what a suite runs with: settings, output, the suite's database and
// Redis key prefix.
type env struct {
	cfg    Config
	out    io.Writer
	stderr io.Writer
	suite  string
	db     *database
	redis  *redis.Client
	keys   streams.Keys
	// token is an admin bearer token the APIs under test accept.
	token string
}

// printf writes a progress line, prefixed with the suite's name unless it
// is indented (a detail of the line before).
func (e *env) printf(format string, args ...any) {
	if !strings.HasPrefix(format, "  ") {
		format = e.suite + ": " + format
	}
	fmt.Fprintf(e.out, format+"\n", args...)
}

// benchBinary names this binary, which serves the read suite's baselines.
const benchBinary = "orderflow-bench"

// binary is the path of one of OrderFlow's binaries.
func (e *env) binary(name string) (string, error) {
	if name == "orderflow-api" && e.cfg.APIBin != "" {
		return e.cfg.APIBin, nil
	}
	if name == benchBinary {
		return os.Executable()
	}
	dir := e.cfg.BinDir
	if dir == "" {
		self, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("find %s: %w (set --bin-dir)", name, err)
		}
		dir = filepath.Dir(self)
	}
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("find %s: %w (build it with make build, or set --bin-dir)", name, err)
	}
	return bin, nil
}

// Run parses args, then runs each suite with its own database and key
// prefix, and publishes one report.
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == serveBaselinesCommand {
		return serveBaselines(ctx, m.lookupEnv)
	}
	chosen, name, err := m.ParseFlags(args)
	if err != nil {
		return err
	}
	started := time.Now()
	r := newReport(name, m.Config, started)
	r.Machine = probeMachine()
	r.Code = codeVersion(ctx)
	fmt.Fprintf(m.stdout, "orderflow-bench %s at %s: %s; %s\n", name, r.Code, r.Machine.summary(), r.settingsLine())

	redisOpts, err := redis.ParseURL(m.Config.RedisURL)
	if err != nil {
		return fmt.Errorf("redis URL: %w", err)
	}
	rdb := redis.NewClient(redisOpts)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", redisOpts.Addr, err)
	}

	token, err := adminToken()
	if err != nil {
		return err
	}
	var failed []error
	for _, s := range chosen {
		if ctx.Err() != nil {
			break
		}
		suiteStart := time.Now()
		r.section = s.name
		e := &env{cfg: m.Config, out: m.stdout, stderr: m.stderr, suite: s.name, redis: rdb, token: token,
			keys: streams.Keys{Prefix: fmt.Sprintf("obench:%s:%s:", started.Format("20060102T150405"), s.name)}}
		if err := m.runSuite(ctx, e, s, r); err != nil {
			err = fmt.Errorf("%s: %w", s.name, err)
			failed = append(failed, err)
			r.note("Suite %s did not finish: %v", s.name, err)
			fmt.Fprintf(m.stdout, "%v\n", err)
		}
		r.Elapsed = append(r.Elapsed, Setting{s.name, time.Since(suiteStart).Round(time.Second).String()})
	}
	r.section = ""
	r.Elapsed = append(r.Elapsed, Setting{"total", time.Since(started).Round(time.Second).String()})
	if ctx.Err() != nil {
		return errors.Join(append(failed, ctx.Err())...)
	}
	return errors.Join(append(failed, r.publish(m.stdout, m.Config.ResultsDir), r.correctnessError())...)
}

// runSuite creates the suite's database, runs it, then drops the database
// and deletes the suite's Redis keys.
func (m *Main) runSuite(ctx context.Context, e *env, s suite, r *Report) (err error) {
	if e.db, err = createDatabase(ctx, m.Config.DatabaseURL, s.name, m.Config.DatabaseConns); err != nil {
		return err
	}
	e.printf("database %s created and migrated; Redis key prefix %s", e.db.name, e.keys.Prefix)
	defer func() {
		if m.Config.KeepDatabase {
			e.db.pool.Close()
			e.printf("database %s and keys %s* kept (--keep-database): %s", e.db.name, e.keys.Prefix, e.db.url)
			return
		}
		err = errors.Join(err, e.db.drop(), deleteKeys(context.WithoutCancel(ctx), e.redis, e.keys.Prefix))
	}()
	if r.Machine.PostgreSQL == "" {
		r.Machine.PostgreSQL = e.db.serverDescription(ctx)
		r.Machine.Redis = redisDescription(ctx, e.redis)
	}
	return s.run(ctx, e, r)
}

// deleteKeys unlinks every key under prefix.
func deleteKeys(ctx context.Context, rdb *redis.Client, prefix string) error {
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := rdb.Unlink(ctx, batch...).Err()
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			if err := flush(); err != nil {
				return fmt.Errorf("delete keys %s*: %w", prefix, err)
			}
		}
	}
	if err := errors.Join(iter.Err(), flush()); err != nil {
		return fmt.Errorf("delete keys %s*: %w", prefix, err)
	}
	return nil
}

// redisDescription names the Redis server version.
func redisDescription(ctx context.Context, rdb *redis.Client) string {
	info := rdb.InfoMap(ctx, "server")
	if v := info.Item("Server", "redis_version"); info.Err() == nil && v != "" {
		return "Redis " + v
	}
	return "Redis (unknown version)"
}

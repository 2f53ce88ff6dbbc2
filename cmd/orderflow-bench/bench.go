package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/service"
)

// Config is orderflow-bench's settings. Zero Duration, LongStream and
// LoadIterations mean "the default for the mode" (full or --quick); the
// methods of the same names resolve them.
type Config struct {
	DatabaseURL    string
	DatabaseConns  int
	RedisURL       string
	Clients        int
	Quick          bool
	PhaseDuration  time.Duration
	RoundCount     int
	LongStreamLen  int
	LoadIters      int
	LoadBudgetTime time.Duration
	APIBin         string
	ResultsDir     string
	KeepDatabase   bool
	ReadyTimeout   time.Duration
	SeedProducts   int
	SeedCustomers  int
	ProductStock   int
	ProgressPeriod time.Duration
}

// Defaults of the full run and of --quick.
const (
	defaultConns          = 16 // orderflow-api's default pool size
	defaultClients        = 16
	defaultDuration       = 15 * time.Second
	quickDuration         = 3 * time.Second
	defaultRounds         = 5
	quickRounds           = 3
	defaultLongStream     = 100_000
	quickLongStream       = 10_000
	defaultLoadIterations = 2_000
	quickLoadIterations   = 500
	defaultLoadBudget     = time.Minute
	quickLoadBudget       = 10 * time.Second
	// longStreamChunk is how many events one transaction appends while the
	// long stream is built.
	longStreamChunk = 1_000
)

// Duration is how long each timed phase runs.
func (c Config) Duration() time.Duration {
	switch {
	case c.PhaseDuration > 0:
		return c.PhaseDuration
	case c.Quick:
		return quickDuration
	default:
		return defaultDuration
	}
}

// Rounds is how many slices each timed phase is cut into, alternating with
// the phase it is compared with.
func (c Config) Rounds() int {
	switch {
	case c.RoundCount > 0:
		return c.RoundCount
	case c.Quick:
		return quickRounds
	default:
		return defaultRounds
	}
}

// LongStream is the number of events of the long product stream.
func (c Config) LongStream() int {
	switch {
	case c.LongStreamLen > 0:
		return c.LongStreamLen
	case c.Quick:
		return quickLongStream
	default:
		return defaultLongStream
	}
}

// LoadIterations is how many timed loads each product gets.
func (c Config) LoadIterations() int {
	switch {
	case c.LoadIters > 0:
		return c.LoadIters
	case c.Quick:
		return quickLoadIterations
	default:
		return defaultLoadIterations
	}
}

// LoadBudget bounds the time spent timing loads: a slow load (a long stream
// that costs what its length costs) must not stretch the run without end.
func (c Config) LoadBudget() time.Duration {
	switch {
	case c.LoadBudgetTime > 0:
		return c.LoadBudgetTime
	case c.Quick:
		return quickLoadBudget
	default:
		return defaultLoadBudget
	}
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
	if c.PhaseDuration < 0 || c.RoundCount < 0 || c.LongStreamLen < 0 || c.LoadIters < 0 || c.LoadBudgetTime < 0 {
		errs = append(errs, errors.New("duration, rounds, long-stream, load-iterations and load-budget must not be negative"))
	}
	if c.LongStreamLen > 0 && c.LongStreamLen%longStreamChunk != 0 {
		errs = append(errs, fmt.Errorf("long-stream must be a multiple of %d", longStreamChunk))
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
	add(c.SeedProducts != 200, "products", c.SeedProducts)
	add(c.SeedCustomers != 100, "customers", c.SeedCustomers)
	add(c.ProductStock != 10_000_000, "product-stock", c.ProductStock)
	return args
}

// reproduceCommand is the make command line that repeats this run.
func (c Config) reproduceCommand() string {
	cmd := "make bench"
	if c.Quick {
		cmd = "BENCH_QUICK=1 " + cmd
	}
	if args := c.reproduceArgs(); len(args) > 0 {
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

// suites lists every suite; each lives in its own file.
func suites() []suite {
	return []suite{
		{name: "write", summary: "bare append baseline, POST /api/v1/orders through the real API, aggregate load cost", run: runWrite},
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
a noisy or shared machine stay comparable. Each run creates its own database
(bench_<timestamp>) on the server of --database-url, migrates it and drops it
at the end. Results go to <results-dir>/<date>-<suite>.md and .json
(<date>-<suite>-quick.* with --quick). The exit status is 0 when the suite
ran, whether or not every goal was met; the table says which were.

Usage:
  orderflow-bench SUITE [flags]

Suites:
`

const usageFlags = `
make bench runs the write suite against throwaway servers (scripts/bench.sh);
BENCH_QUICK=1 make bench is the same with --quick. Extra flags: make bench ARGS='--clients=8'.

Every flag can also be set by the environment variable named beside it;
a flag given on the command line wins.

Flags:
`

// ParseFlags reads the suite and settings from args and the environment.
func (m *Main) ParseFlags(args []string) (suite, error) {
	all := suites()
	fs := service.NewFlags("orderflow-bench", m.lookupEnv)
	fs.SetOutput(m.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		for _, s := range all {
			fmt.Fprintf(fs.Output(), "  %-8s %s\n", s.name, s.summary)
		}
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
	fs.String(&c.DatabaseURL, "database-url", "", "PostgreSQL URL; the run's database is created on this server")
	fs.Int(&c.DatabaseConns, "database-conns", defaultConns, "PostgreSQL pool size of the baseline and of the API under test")
	fs.String(&c.RedisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis URL handed to the API under test")
	fs.Int(&c.Clients, "clients", defaultClients, "parallel clients of every timed phase")
	fs.Bool(&c.Quick, "quick", false, "short phases (3s in 3 rounds, 10,000-event stream, 500 loads within 10s): a smoke run under a minute")
	fs.Duration(&c.PhaseDuration, "duration", 0, "total length of each timed phase (default 15s, 3s with --quick)")
	fs.Int(&c.RoundCount, "rounds", 0, fmt.Sprintf("slices each timed phase is cut into, alternating with its baseline's so drift hits both (default %d, %d with --quick)", defaultRounds, quickRounds))
	fs.Int(&c.LongStreamLen, "long-stream", 0, fmt.Sprintf("events in the long product stream, a multiple of %d (default %d, %d with --quick)", longStreamChunk, defaultLongStream, quickLongStream))
	fs.Int(&c.LoadIters, "load-iterations", 0, fmt.Sprintf("timed loads of each product (default %d, %d with --quick)", defaultLoadIterations, quickLoadIterations))
	fs.Duration(&c.LoadBudgetTime, "load-budget", 0, fmt.Sprintf("time limit of the timed loads; fewer are timed when it runs out (default %s, %s with --quick)", defaultLoadBudget, quickLoadBudget))
	fs.Int(&c.SeedProducts, "products", 200, "products created through the API before the order phase")
	fs.Int(&c.SeedCustomers, "customers", 100, "customers created through the API before the order phase")
	fs.Int(&c.ProductStock, "product-stock", 10_000_000, "initial stock of each seeded product")
	fs.String(&c.APIBin, "api-bin", "", "orderflow-api binary to start (default: orderflow-api beside this binary)")
	fs.Duration(&c.ReadyTimeout, "ready-timeout", 15*time.Second, "how long the API may take to answer /readyz")
	fs.String(&c.ResultsDir, "results-dir", "bench/results", "folder the result files are written to (\"\" writes none)")
	fs.Bool(&c.KeepDatabase, "keep-database", false, "keep the run's database for inspection instead of dropping it")
	fs.Duration(&c.ProgressPeriod, "progress", 3*time.Second, "interval of progress lines during timed phases")
	if err := fs.Parse(args); err != nil {
		return suite{}, err
	}
	if fs.NArg() > 0 {
		return suite{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if name == "" {
		return suite{}, errors.New("no suite given; run orderflow-bench --help for the list")
	}
	var chosen *suite
	for i := range all {
		if all[i].name == name {
			chosen = &all[i]
		}
	}
	if chosen == nil {
		return suite{}, fmt.Errorf("unknown suite %q; run orderflow-bench --help for the list", name)
	}
	return *chosen, c.Validate()
}

// env is what a suite runs with: settings, output, and the run's database.
type env struct {
	cfg    Config
	out    io.Writer
	stderr io.Writer
	db     *database
}

// printf writes a progress line.
func (e *env) printf(format string, args ...any) {
	fmt.Fprintf(e.out, format+"\n", args...)
}

// apiBin is the orderflow-api binary to start.
func (e *env) apiBin() (string, error) {
	if e.cfg.APIBin != "" {
		return e.cfg.APIBin, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find orderflow-api: %w (set --api-bin)", err)
	}
	bin := filepath.Join(filepath.Dir(self), "orderflow-api")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("find orderflow-api beside %s: %w (build it with make build, or set --api-bin)", self, err)
	}
	return bin, nil
}

// Run parses args, creates the run's database, runs the suite and publishes
// its report.
func (m *Main) Run(ctx context.Context, args []string) (err error) {
	s, err := m.ParseFlags(args)
	if err != nil {
		return err
	}
	started := time.Now()
	r := newReport(s.name, m.Config, started)
	r.Machine = probeMachine()
	e := &env{cfg: m.Config, out: m.stdout, stderr: m.stderr}
	e.printf("%s: %s; %s", s.name, r.Machine.summary(), r.settingsLine())

	if e.db, err = createDatabase(ctx, m.Config.DatabaseURL, m.Config.DatabaseConns); err != nil {
		return err
	}
	e.printf("%s: database %s created and migrated", s.name, e.db.name)
	defer func() {
		if m.Config.KeepDatabase {
			e.db.pool.Close()
			e.printf("%s: database %s kept (--keep-database): %s", s.name, e.db.name, e.db.url)
			return
		}
		err = errors.Join(err, e.db.drop())
	}()
	r.Machine.PostgreSQL = e.db.serverDescription(ctx)

	if err := s.run(ctx, e, r); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	r.Elapsed = time.Since(started).Round(time.Second).String()
	return r.publish(m.stdout, m.Config.ResultsDir)
}

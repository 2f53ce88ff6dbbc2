//go:build faults

package systemtest_test

// The fault suite (make faults): under a steady mixed load through the real
// binaries it kills with SIGKILL, in turn, the API, the relay, each of two
// projectors, Redis (AOF everysec, as in production), PostgreSQL, and
// finally Redis again with its data gone; after each it restarts what it
// killed, waits for convergence and checks that nothing was lost. It prints
// a table of what it measured. It needs the services.sh instance whose
// PostgreSQL it may kill: ORDERFLOW_FAULTS_INSTANCE (default "faults"),
// whose env file the test environment was sourced from.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/adapters/postgres/pgtest"
	"github.com/orderflow/orderflow/cmd/internal/systemtest"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/testenv/process"
)

const (
	// downFor is how long a killed component stays dead under load.
	downFor = 3 * time.Second
	// loadAfter is how long the load runs on after the restart before it
	// pauses for the convergence checks.
	loadAfter = 2 * time.Second
	// convergeWithin bounds the wait for the relay, the projectors and
	// verify after the load paused.
	convergeWithin = 60 * time.Second
)

type fault struct {
	name string
	// kill takes the component down; restart brings it back and waits
	// until it is ready.
	kill    func() error
	restart func() error
	// noServerErrors demands that the API answer no 5xx while it is down.
	noServerErrors bool
}

type row struct {
	fault                   string
	downRate, afterRate     float64
	downErrors, afterErrors string
	recovered, converged    time.Duration
	held                    []string
	failed                  []string
}

func TestFaults(t *testing.T) {
	instance := os.Getenv("ORDERFLOW_FAULTS_INSTANCE")
	if instance == "" {
		instance = "faults"
	}
	bin := testenv.Binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	logDir := os.Getenv("ORDERFLOW_FAULTS_LOG_DIR")
	if logDir == "" {
		logDir = t.TempDir()
	}

	dsn := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	pg, err := systemtest.NewPostgres(ctx, servicesScript(t), instance, pool)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := systemtest.NewRedisServer(ctx, t.TempDir(), logDir, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Proc.Kill)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Proc.Addr})
	defer rdb.Close()

	sys := &systemtest.System{Bin: bin, DatabaseURL: dsn, RedisURL: rs.URL(), KeyPrefix: "faults:", LogDir: logDir}
	must := func(p *process.Process, err error) *process.Process {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	api := must(sys.NewAPI("api", nil))
	relay := must(sys.NewRelay("relay", nil))
	proj1, proj2 := must(sys.NewProjector("projector-1", nil)), must(sys.NewProjector("projector-2", nil))
	procs := []*process.Process{api, relay, proj1, proj2}
	testenv.Track(t, procs...)
	testenv.StartAll(t, api)
	testenv.StartAll(t, relay, proj1, proj2)

	token, err := sys.AdminToken(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	client := systemtest.NewClient(token, api.URL())
	load := &systemtest.Load{Client: client, NamePrefix: "load-", Workers: 4, Pace: 5 * time.Millisecond, LostAnswers: 0.1}
	if err := load.Seed(ctx, 20, 20); err != nil {
		t.Fatal(err)
	}
	checker := systemtest.Checker{Pool: pool, Redis: rdb, Keys: sys.Keys()}

	restartProc := func(p *process.Process) func() error {
		return func() error {
			if err := p.Start(); err != nil {
				return err
			}
			return p.WaitReady(ctx, 60*time.Second)
		}
	}
	killProc := func(p *process.Process) func() error { return func() error { p.Kill(); return nil } }
	faults := []fault{
		{name: "api", kill: killProc(api), restart: restartProc(api)},
		{name: "relay", kill: killProc(relay), restart: restartProc(relay)},
		{name: "projector-1", kill: killProc(proj1), restart: restartProc(proj1)},
		{name: "projector-2", kill: killProc(proj2), restart: restartProc(proj2)},
		{name: "redis (AOF everysec)", kill: func() error { rs.Proc.Kill(); return nil },
			restart: func() error { return rs.Restart(ctx, false) }, noServerErrors: true},
		{name: "postgres", kill: pg.Kill, restart: func() error { return pg.Start(ctx) }},
		{name: "redis data lost", kill: func() error { rs.Proc.Kill(); return nil },
			restart: func() error { return rs.Restart(ctx, true) }, noServerErrors: true},
	}

	var rows []row
	for _, f := range faults {
		r := runFault(t, ctx, f, sys, load, checker, procs)
		rows = append(rows, r)
		if len(r.failed) > 0 {
			t.Errorf("%s: %s", f.name, strings.Join(r.failed, "; "))
		}
	}
	printTable(rows)
}

// runFault runs the load, takes one component down for downFor, brings it
// back, runs the load on, pauses it, waits for convergence and checks.
func runFault(t *testing.T, ctx context.Context, f fault, sys *systemtest.System, load *systemtest.Load,
	checker systemtest.Checker, procs []*process.Process) row {
	t.Helper()
	r := row{fault: f.name}
	fail := func(format string, args ...any) { r.failed = append(r.failed, fmt.Sprintf(format, args...)) }

	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { load.Run(loadCtx) })
	pause := func() {
		stopLoad()
		wg.Wait()
	}
	defer pause()

	// Load before the fault, so the kill lands mid-stream.
	wait(ctx, time.Second)
	before := load.Client.Stats.Snapshot()
	if err := f.kill(); err != nil {
		t.Fatalf("%s: kill: %v", f.name, err)
	}
	wait(ctx, downFor)
	down := load.Client.Stats.Snapshot()
	start := time.Now()
	if err := f.restart(); err != nil {
		t.Fatalf("%s: restart: %v", f.name, err)
	}
	// A dependency's outage may have ended a process; say so and restart it.
	for _, p := range procs {
		if !p.Running() {
			fail("%s exited by itself during the fault:\n%s", p.Name, p.Tail(10))
			if err := p.Start(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range procs {
		if err := p.WaitReady(ctx, 60*time.Second); err != nil {
			fail("not ready after the restart: %v", err)
		}
	}
	r.recovered = time.Since(start)
	recovered := load.Client.Stats.Snapshot()
	wait(ctx, loadAfter)
	pause()
	after := load.Client.Stats.Snapshot()

	dw, aw := down.Window(before), after.Window(recovered)
	r.downRate, r.downErrors = dw.Rate(), dw.Errors()
	r.afterRate, r.afterErrors = aw.Rate(), aw.Errors()
	if f.noServerErrors {
		if n := dw.ServerErrors(); n > 0 {
			fail("the API answered %d 5xx while only Redis was down", n)
		} else {
			r.held = append(r.held, "no 5xx while down")
		}
	}
	if n := aw.ServerErrors(); n > 0 {
		fail("the API answered %d 5xx after the restart", n)
	}
	// 503 is the honest answer while a dependency is down; 500 never is.
	if n := after.Window(before).Counts[http.StatusInternalServerError]; n > 0 {
		fail("the API answered %d 500 (internal error)", n)
	}
	if n := len(load.Client.Stats.Samples()); n > 0 && len(r.failed) > 0 {
		r.failed = append(r.failed, fmt.Sprintf("first failed requests of the run: %v", load.Client.Stats.Samples()))
	}

	resolveCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	left := load.Resolve(resolveCtx)
	cancel()
	if left > 0 {
		fail("%d order placements never got a definite answer", left)
	}
	converged := time.Now()
	if _, err := systemtest.Converge(ctx, sys, checker, convergeWithin); err != nil {
		fail("%v", err)
	} else {
		r.held = append(r.held, "verify 0 drift")
	}
	r.converged = time.Since(converged)

	ack := load.Acknowledged()
	if sr, err := checker.Streams(ctx); err != nil {
		fail("streams: %v", err)
	} else if !sr.OK() {
		fail("streams: %s", sr)
	} else {
		r.held = append(r.held, fmt.Sprintf("streams exactly once (%d events)", sr.Events))
	}
	if or, err := checker.Orders(ctx, ack); err != nil {
		fail("orders: %v", err)
	} else if !or.OK() {
		fail("orders: %s; lost %v; extra %v", or, or.Lost, or.Extra)
	} else {
		r.held = append(r.held, fmt.Sprintf("orders exactly once (%d; %d key retries replayed so far)", or.Acknowledged, ack.Replayed))
	}
	if st, err := checker.Stock(ctx); err != nil {
		fail("stock: %v", err)
	} else if len(st.Mismatched) > 0 {
		fail("stock: %s", strings.Join(st.Mismatched, "; "))
	} else {
		r.held = append(r.held, fmt.Sprintf("stock adds up (%d products)", st.Products))
	}
	if problems, err := checker.Acknowledged(ctx, ack); err != nil {
		fail("acknowledged writes: %v", err)
	} else if len(problems) > 0 {
		fail("acknowledged writes: %s", strings.Join(problems, "; "))
	} else {
		r.held = append(r.held, "acked writes kept")
	}
	return r
}

// wait lets the load run for d: the span of the fault, not a wait for a condition.
func wait(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func printTable(rows []row) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\nfault\tload while down\terrors while down\tready after restart\tload after\terrors after\tconverged after pause\twhat held")
	for _, r := range rows {
		held := strings.Join(r.held, ", ")
		if len(r.failed) > 0 {
			held = "FAILED: " + strings.Join(r.failed, "; ") + " | held: " + held
		}
		fmt.Fprintf(w, "%s\t%.0f req/s\t%s\t%s\t%.0f req/s\t%s\t%s\t%s\n", r.fault, r.downRate, r.downErrors,
			r.recovered.Round(10*time.Millisecond), r.afterRate, r.afterErrors, r.converged.Round(10*time.Millisecond), held)
	}
	_ = w.Flush()
}

// servicesScript is scripts/services.sh of this module.
func servicesScript(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), "scripts", "services.sh")
}

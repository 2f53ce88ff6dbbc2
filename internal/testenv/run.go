package testenv

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os/exec"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/testenv/process"
)

// ProcessWait bounds a process's start-up, its drain after SIGTERM and a
// one-shot command; binaries built with the race detector on a busy
// machine need the room.
const ProcessWait = 60 * time.Second

// StartProcess runs spec's program with JSON logs (unless spec says
// otherwise), waits until its /readyz answers 200 when it serves HTTP, and
// checks that it listens where it was told. On cleanup it stops the
// process (see Track).
func StartProcess(tb testing.TB, spec process.Spec) *process.Process {
	tb.Helper()
	return start(tb, spec, true)
}

// StartListening is StartProcess for a program whose readiness is what the
// test looks at (a standby relay is never ready): it waits only until the
// program logs that it listens, where it was told.
func StartListening(tb testing.TB, spec process.Spec) *process.Process {
	tb.Helper()
	return start(tb, spec, false)
}

func start(tb testing.TB, spec process.Spec, ready bool) *process.Process {
	tb.Helper()
	if _, set := spec.Settings["ORDERFLOW_LOG_FORMAT"]; !set {
		s := map[string]string{"ORDERFLOW_LOG_FORMAT": "json"}
		maps.Copy(s, spec.Settings)
		spec.Settings = s
	}
	p, err := process.New(spec)
	if err != nil {
		tb.Fatal(err)
	}
	Track(tb, p)
	if err := p.Start(); err != nil {
		tb.Fatal(err)
	}
	if p.Addr == "" {
		return p
	}
	if ready {
		if err := p.WaitReady(context.Background(), ProcessWait); err != nil {
			tb.Fatal(err)
		}
	}
	if spec.Settings["ORDERFLOW_LOG_FORMAT"] == "json" {
		WaitFor(tb, ProcessWait, p.Name+" logs where it listens", func() (bool, string) {
			if p.Logs().Listening() != "" {
				return true, ""
			}
			if !p.Running() {
				tb.Fatalf("%s exited before listening: %v\n%s", p.Name, p.Err(), p.Tail(40))
			}
			return false, "no listening record yet"
		})
		if got := p.Logs().Listening(); got != p.Addr {
			tb.Fatalf("%s listens on %q, want %q (loopback)", p.Name, got, p.Addr)
		}
	}
	return p
}

// StartAll starts processes prepared with process.New, then waits until
// each is ready; on failure the test stops.
func StartAll(tb testing.TB, procs ...*process.Process) {
	tb.Helper()
	for _, p := range procs {
		if err := p.Start(); err != nil {
			tb.Fatal(err)
		}
	}
	for _, p := range procs {
		if err := p.WaitReady(context.Background(), ProcessWait); err != nil {
			tb.Fatal(err)
		}
	}
}

// Track stops every process when the test ends: SIGTERM for one still
// running, which must then exit cleanly (one the test killed is left as
// it is). A data race reported by any run fails the test, and a failed
// test shows the end of each process's output.
func Track(tb testing.TB, procs ...*process.Process) {
	tb.Cleanup(func() {
		for _, p := range procs {
			if p.Running() {
				if err := p.Stop(ProcessWait); err != nil {
					tb.Errorf("%v\n%s", err, p.Tail(20))
				}
			}
			where := p.LogPath()
			if where == "" {
				where = "its output:\n" + p.Logs().String()
			}
			if p.Raced() {
				tb.Errorf("%s reported a data race; see %s", p.Name, where)
			} else if tb.Failed() {
				tb.Logf("%s, last lines:\n%s", p.Name, p.Tail(40))
			}
			_ = p.Close()
		}
	})
}

// RunOnce runs a one-shot command to its end
// and returns its standard output, its standard error and its exit code.
// It fails tb when the command cannot run, outlasts ProcessWait or reports
// a data race.
func RunOnce(tb testing.TB, spec process.Spec) (stdout, stderr string, code int) {
	tb.Helper()
	var out bytes.Buffer
	spec.Stdout = &out
	spec.AddrEnv = ""
	p, err := process.New(spec)
	if err != nil {
		tb.Fatal(err)
	}
	defer p.Close()
	if err := p.Start(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ProcessWait)
	defer cancel()
	err = p.Wait(ctx)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		tb.Fatalf("%s %v: %v", p.Name, spec.Args, err)
	}
	if p.Raced() {
		tb.Errorf("%s %v reported a data race:\n%s", p.Name, spec.Args, p.Logs())
	}
	return out.String(), p.Logs().String(), p.ExitCode()
}

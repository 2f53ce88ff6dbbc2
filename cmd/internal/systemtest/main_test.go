package systemtest_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/systemtest"
)

// built holds the binaries, compiled once per test binary with -race.
var built struct {
	once sync.Once
	dir  string
	bin  systemtest.Binaries
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "orderflow-systemtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	built.dir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func binaries(t *testing.T) systemtest.Binaries {
	t.Helper()
	built.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		built.bin, built.err = systemtest.Build(ctx, built.dir, true)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// startAll starts processes, then waits until each is ready; on failure
// the test stops.
func startAll(t *testing.T, ctx context.Context, procs ...*systemtest.Process) {
	t.Helper()
	for _, p := range procs {
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range procs {
		if err := p.WaitReady(ctx, 60*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// stopAtEnd stops every process when the test ends (SIGTERM: a clean exit
// is required of one still running) and fails the test on a data race.
func stopAtEnd(t *testing.T, procs ...*systemtest.Process) {
	t.Cleanup(func() {
		for _, p := range procs {
			if err := p.Stop(20 * time.Second); err != nil {
				t.Errorf("%v\n%s", err, p.Tail(20))
			}
			if p.Raced() {
				t.Errorf("%s reported a data race; see %s", p.Name, p.LogPath())
			}
			if t.Failed() {
				t.Logf("%s (%s), last lines:\n%s", p.Name, p.LogPath(), p.Tail(15))
			}
		}
	})
}

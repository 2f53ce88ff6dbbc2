package testenv

import (
	"context"
	"os"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/testenv/process"
)

// built holds the binaries of this test binary. It is process-wide on
// purpose: the tests of a package share one build, and TestMain (Main)
// removes it when they are done.
var built struct {
	once sync.Once
	dir  string
	bin  process.Binaries
	err  error
}

// buildTimeout bounds the one `go build` of a test binary.
const buildTimeout = 10 * time.Minute

// Main runs the tests of a package that starts binaries and removes the
// binaries afterwards; call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// Binaries builds orderflow-api, orderflow-relay and orderflow-projector
// once per test binary, with the race detector when this test binary runs
// with it, and returns their paths. The package's TestMain must call Main.
func Binaries(tb testing.TB) process.Binaries {
	tb.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "orderflow-testenv-")
		if built.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		built.bin, built.err = process.Build(ctx, built.dir, RaceEnabled())
	})
	if built.err != nil {
		tb.Fatalf("testenv: build the binaries: %v", built.err)
	}
	return built.bin
}

// RaceEnabled reports whether this test binary runs with the race detector.
func RaceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

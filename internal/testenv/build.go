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

// builds are the binaries of this test binary, with and without the race
// detector. They are process-wide on purpose: the tests of a package share
// one build, and TestMain (Main) removes them when the tests are done.
var builds [2]struct {
	once sync.Once
	dir  string
	bin  process.Binaries
	err  error
}

// buildTimeout bounds one `go build` of the three binaries.
const buildTimeout = 10 * time.Minute

// Main runs the tests of a package that starts binaries and removes the
// binaries afterwards; call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	for i := range builds {
		if builds[i].dir != "" {
			_ = os.RemoveAll(builds[i].dir)
		}
	}
	os.Exit(code)
}

// Binaries builds orderflow-api, orderflow-relay and orderflow-projector
// once per test binary, with the race detector when this test binary runs
// with it, and returns their paths. The package's TestMain must call Main.
func Binaries(tb testing.TB) process.Binaries {
	tb.Helper()
	return binaries(tb, RaceEnabled())
}

// BinariesWithoutRace is Binaries built without the race detector, for a
// test whose subject is timing across processes (a thousand requests
// arriving while one load is held), which the detector's slowdown would
// turn into a different test.
func BinariesWithoutRace(tb testing.TB) process.Binaries {
	tb.Helper()
	return binaries(tb, false)
}

func binaries(tb testing.TB, race bool) process.Binaries {
	tb.Helper()
	b := &builds[0]
	if race {
		b = &builds[1]
	}
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "orderflow-testenv-")
		if b.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		b.bin, b.err = process.Build(ctx, b.dir, race)
	})
	if b.err != nil {
		tb.Fatalf("testenv: build the binaries: %v", b.err)
	}
	return b.bin
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

package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cmd/internal/progress"
)

// lockedBuffer is a bytes.Buffer that a progress report writes from its own
// goroutine.
type lockedBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

// The replay's progress lines, as orderflow-projector prints them into the
// bench's pipe, are the ones runReplay reads back.
func TestReplayProgressLine(t *testing.T) {
	out := &lockedBuffer{mu: make(chan struct{}, 1)}
	p := progress.New(out, progress.Config{Label: "replay: event store", Total: 1_234_567, Unit: "events", Mode: progress.Lines})
	p.Set(120_000)
	p.Done()
	line, _, _ := strings.Cut(out.buf.String(), "\n")
	m := regexp.MustCompile(replayProgress).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("%q does not match %s", line, replayProgress)
	}
	if m[1] != "event store" || parseCount(m[2]) != 120_000 || parseCount(m[3]) != 1_234_567 {
		t.Fatalf("read %q: source %q, %d of %d", line, m[1], parseCount(m[2]), parseCount(m[3]))
	}
}

package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// buffer is a bytes.Buffer the job's goroutine and the test share.
type buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor fails the test unless out soon holds want.
func waitFor(t *testing.T, out *buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never held %q; got:\n%s", want, out)
		}
		<-tick.C
	}
}

func TestLinesAtEachTenth(t *testing.T) {
	out := &buffer{}
	p := New(out, Config{Label: "seed: products", Total: 1000, Mode: Lines})
	p.Add(250)
	waitFor(t, out, "seed: products: 250/1,000 (25%, ")
	p.Add(350)
	waitFor(t, out, "seed: products: 600/1,000 (60%, ")
	p.Add(400)
	p.Done()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want one per tenth reached and a last one:\n%s", len(lines), out)
	}
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "seed: products: 1,000/1,000 (100%, ") || !strings.Contains(last, "/s, in ") {
		t.Fatalf("last line %q, want the count, the rate and the time taken", last)
	}
	if strings.ContainsAny(out.String(), "\r\x1b") {
		t.Fatalf("plain lines hold terminal controls: %q", out)
	}
}

func TestLinesWithUnitAndETA(t *testing.T) {
	out := &buffer{}
	p := New(out, Config{Label: "replay: streams", Total: 100_000, Unit: "events", Mode: Lines})
	p.Set(15_000)
	waitFor(t, out, "replay: streams: 15,000/100,000 events (15%, ")
	if !strings.Contains(out.String(), " events/s, ETA ") {
		t.Fatalf("line lacks rate or ETA: %q", out)
	}
	p.SetTotal(200_000)
	p.Set(200_000)
	p.Stop()
	if strings.Contains(out.String(), "200,000") {
		t.Fatalf("Stop printed a last line: %q", out)
	}
}

func TestTimedLinesEveryPeriod(t *testing.T) {
	out := &buffer{}
	p := New(out, Config{Label: "orders", Duration: time.Hour, Every: 50 * time.Millisecond, Mode: Lines})
	p.Add(12_345)
	p.Fail(2)
	p.SetDetail("target 500/s")
	waitFor(t, out, "orders: ")
	waitFor(t, out, "/1h0m0s, 12,345 (")
	waitFor(t, out, "/s, ETA 59m")
	waitFor(t, out, "), 2 failed, target 500/s\n")
	p.Stop()
}

func TestBarOnTerminal(t *testing.T) {
	out := &buffer{}
	p := New(out, Config{Label: "seed: products", Total: 300, Unit: "products", Mode: Bar})
	p.Add(120)
	waitFor(t, out, "120/300")
	p.Println("a line of the caller's own")
	p.Add(180)
	p.Done()
	got := out.String()
	for _, want := range []string{"seed: products", "300/300", "products/s", "100%", "a line of the caller's own\n", "\r"} {
		if !strings.Contains(got, want) {
			t.Errorf("bar output lacks %q:\n%q", want, got)
		}
	}
	if !strings.HasSuffix(got, "\n") {
		t.Errorf("a finished bar leaves the cursor on its line: %q", got)
	}
}

func TestTimedBarShowsCountAndRate(t *testing.T) {
	out := &buffer{}
	p := New(out, Config{Label: "reads", Duration: time.Hour, Mode: Bar})
	p.Add(7)
	waitFor(t, out, "reads: 7 (")
	p.Stop()
}

func TestAutoPrintsLinesOffATerminal(t *testing.T) {
	p := New(&buffer{}, Config{Label: "x", Total: 1})
	defer p.Stop()
	if p.bar != nil {
		t.Fatal("a bar drawn into a buffer; want plain lines off a terminal")
	}
}

func TestThousands(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {1234567.6, "1,234,568"}, {-12345, "-12,345"},
	}
	for _, tt := range tests {
		if got := thousands(tt.in); got != tt.want {
			t.Errorf("thousands(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A phase that changes its label starts counting anew; lines of the caller's
// own pass through.
func TestPhased(t *testing.T) {
	out := &buffer{}
	ph := NewPhased(out, Config{Unit: "events", Mode: Lines})
	ph.Update("replay: streams", 30, 100)
	waitFor(t, out, "replay: streams: 30/100 events (30%, ")
	ph.Println("replay: the streams were trimmed")
	ph.Update("replay: event store", 50, 200)
	waitFor(t, out, "replay: event store: 50/200 events (25%, ")
	ph.Stop()
	ph.Println("replay: done")
	want := []string{"replay: streams: 30/100", "replay: the streams were trimmed", "replay: event store: 50/200", "replay: done"}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got lines:\n%s\nwant %d", out, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], w)
		}
	}
}

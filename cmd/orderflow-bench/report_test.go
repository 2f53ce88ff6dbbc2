package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/service"
)

func TestThousands(t *testing.T) {
	tests := map[float64]string{0: "0", 7: "7", 999.5: "1,000", 1234: "1,234", 1234567.4: "1,234,567", -4321: "-4,321"}
	for in, want := range tests {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestRowGoals(t *testing.T) {
	base := figure("base", 1000, "tx/s")
	tests := []struct {
		name string
		row  Row
		want bool
	}{
		{"ratio above a minimum", figure("x", 600, "tx/s").against(base).goal("ratio", ">=", 0.5), true},
		{"ratio below a minimum", figure("x", 400, "tx/s").against(base).goal("ratio", ">=", 0.5), false},
		{"ratio within a maximum", figure("x", 1500, "µs").against(base).goal("ratio", "<=", 1.5), true},
		{"value equal", figure("x", 0, "").goal("value", "==", 0), true},
		{"value not equal", figure("x", 3, "").goal("value", "==", 0), false},
		{"no baseline, no ratio: not met", figure("x", 1, "tx/s").against(figure("zero", 0, "tx/s")).goal("ratio", ">=", 0.5), false},
	}
	for _, tt := range tests {
		if got := *tt.row.Met; got != tt.want {
			t.Errorf("%s: met %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTable(t *testing.T) {
	r := &Report{}
	base := figure("bare append", 3000, "tx/s")
	r.add(base, figure("POST /api/v1/orders", 1500, "orders/s").against(base).goal("ratio", ">=", 0.5),
		figure("start-up", 35.25, "ms").goal("value", "<=", 2000))
	got := r.table()
	for _, want := range []string{
		"| figure ", "| bare append ", "3,000 tx/s |", "1,500 orders/s |", "0.50 |", "≥ 0.5", "| yes ", "35.2 ms", "≤ 2,000 ms",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	met, goals := r.goalsMet()
	if met != 2 || goals != 2 {
		t.Errorf("goals met %d of %d, want 2 of 2", met, goals)
	}
	// Every line is as wide as the header: columns are padded by runes, not bytes.
	lines := strings.Split(strings.TrimSpace(got), "\n")
	for _, l := range lines {
		if len([]rune(l)) != len([]rune(lines[0])) {
			t.Errorf("ragged table:\n%s", got)
			break
		}
	}
}

func TestLoadResultMergeAndPercentiles(t *testing.T) {
	a := &loadResult{Clients: 2, Wall: time.Second, OK: 3, latencies: []time.Duration{1, 5, 9}, ErrorKinds: map[string]int{"HTTP 409": 1}, Failed: 1, ErrorSamples: []string{"a"}}
	b := &loadResult{Clients: 2, Wall: time.Second, OK: 2, latencies: []time.Duration{2, 3}, ErrorKinds: map[string]int{"HTTP 409": 2}, Failed: 2, ErrorSamples: []string{"b", "c"}}
	var sum *loadResult
	sum = sum.merge(a).merge(b)
	if sum.OK != 5 || sum.Failed != 3 || sum.ErrorKinds["HTTP 409"] != 3 || sum.Wall != 2*time.Second || len(sum.ErrorSamples) != 3 {
		t.Fatalf("merged %+v", sum)
	}
	if sum.Rate() != 2.5 {
		t.Errorf("rate %v, want 2.5", sum.Rate())
	}
	if p50, p100 := sum.Percentile(0.5), sum.Percentile(1); p50 != 3 || p100 != 9 {
		t.Errorf("p50 %v p100 %v, want 3 and 9", p50, p100)
	}
}

func TestOrderBodyHasDistinctProducts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	products := []string{"p1", "p2", "p3"}
	for range 200 {
		body, n := orderBody(rng, products, []string{"c1"})
		if n < 1 || n > 3 {
			t.Fatalf("%d lines", n)
		}
		for _, p := range products {
			if strings.Count(string(body), `"`+p+`"`) > 1 {
				t.Fatalf("product repeated: %s", body)
			}
		}
	}
}

func TestTableSectionsAndGoalRatio(t *testing.T) {
	r := &Report{}
	r.section = "relay"
	r.add(figure("commit → XADD p99", 5, "ms").goal("value", "<=", 10))
	r.note("relay note")
	r.section = "projector"
	r.add(figure("replay", 50_000, "events/s").goal("value", ">=", 100_000))
	got := r.table()
	for _, want := range []string{"| **relay** ", "| **projector** ", "≤ 10 ms (0.50×)", "≥ 100,000 events/s (0.50×)"} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if r.Rows[0].Section != "relay" || r.Rows[1].Section != "projector" {
		t.Errorf("sections %q, %q", r.Rows[0].Section, r.Rows[1].Section)
	}
	if notes := r.notesText(); notes != "- relay: relay note\n" {
		t.Errorf("notes %q", notes)
	}
	// One section: no headings.
	one := &Report{}
	one.add(figure("x", 1, ""))
	if strings.Contains(one.table(), "**") {
		t.Errorf("heading in a one-section table:\n%s", one.table())
	}
}

func TestHistogramQuantile(t *testing.T) {
	// 100 observations: 50 up to 1 ms, 40 in (1, 2.5] ms, 9 in (2.5, 5] ms, 1 above 10 ms.
	before := histogram{upper: []float64{.001, .0025, .005, .01}, cum: []float64{10, 10, 10, 10}, count: 10}
	after := histogram{upper: []float64{.001, .0025, .005, .01}, cum: []float64{60, 100, 109, 109}, count: 110}
	h := after.minus(before)
	if h.count != 100 {
		t.Fatalf("count %v", h.count)
	}
	if got := h.quantile(0.5); got != 0.001 {
		t.Errorf("p50 %v, want 0.001", got)
	}
	if got := h.quantile(0.7); math.Abs(got-0.00175) > 1e-9 { // half-way into (1, 2.5]
		t.Errorf("p70 %v, want 0.00175", got)
	}
	if got := h.quantile(0.995); got != 0.01 { // above the last bound: the last bound
		t.Errorf("p99.5 %v, want 0.01", got)
	}
	if got := h.atMost(0.005); got != 0.99 {
		t.Errorf("share within 5 ms %v, want 0.99", got)
	}
	if !math.IsNaN((histogram{}).quantile(0.5)) {
		t.Error("empty histogram has a quantile")
	}
	sum := before.plus(before)
	if sum.count != 20 || sum.cum[3] != 20 {
		t.Errorf("plus %+v", sum)
	}
}

func TestReplaySummaryLine(t *testing.T) {
	line := `replay: done from the event store: 50262 events folded, 4399 keys written into generation "gmwwph7u2" in 2.283s (22019 events/s); readers switched from "gmwwpgz2v"; 4320 old keys deleted; 11.454s in all`
	m := regexp.MustCompile(replayDone).FindStringSubmatch(line)
	if m == nil {
		t.Fatal("no match")
	}
	if m[1] != "event store" || m[2] != "50262" || m[3] != "2.283s" || m[4] != "22019" || m[5] != "11.454s" {
		t.Errorf("groups %q", m[1:])
	}
}

func TestOpenLoopKeepsItsSchedule(t *testing.T) {
	var out strings.Builder
	// Each operation takes 30 ms but they start every 10 ms: the open loop
	// does not wait for them, so 20 run in about 200 ms.
	res, err := runOpenLoop(t.Context(), &out, "test", 100, 200*time.Millisecond, time.Hour, func(ctx context.Context, i int, _ time.Time) error {
		time.Sleep(30 * time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 20 || res.OK != 20 {
		t.Fatalf("sent %d, ok %d", res.Sent, res.OK)
	}
	if res.Wall > 150*time.Millisecond+200*time.Millisecond {
		t.Errorf("took %s: the loop waited for operations", res.Wall)
	}
	if p50 := res.Percentile(0.5); p50 < 30*time.Millisecond {
		t.Errorf("p50 %s below the operation's own time", p50)
	}
}

func TestCorrectnessGoalsFailTheRun(t *testing.T) {
	r := &Report{}
	r.section = "write"
	base := figure("bare append", 3000, "tx/s")
	r.add(
		// A speed goal missed: reported, never enforced.
		figure("POST /api/v1/orders", 600, "orders/s").against(base).goal("ratio", ">=", 0.5),
		figure("POST /api/v1/orders failed (non-201)", 0, "").correct(0),
	)
	r.section = "read"
	r.add(
		figure("stampede: PostgreSQL loads per cold key, worst of 2", 2, "").correct(1),
		figure("orderflow-api peak RSS", 400, "MiB").goal("value", "<=", 150),
	)
	r.section = "relay"
	r.add(figure("open-loop events found on the stream", 1199, "").correct(1200))
	r.section = "mix"
	r.add(
		figure("mix hit ratio, page one", 90, "%").goal("value", ">=", 99),
		figure("mix: stale reads, page one", 3, "").correct(0),
	)

	for _, row := range r.Rows {
		correctness := strings.Contains(row.Figure, "failed") || strings.Contains(row.Figure, "stampede") ||
			strings.Contains(row.Figure, "events found") || strings.Contains(row.Figure, "stale")
		if row.Goal.Correctness != correctness {
			t.Errorf("%s: correctness %t, want %t", row.Figure, row.Goal.Correctness, correctness)
		}
	}
	var failed []string
	for _, row := range r.failedCorrectness() {
		failed = append(failed, row.Figure)
	}
	want := []string{"stampede: PostgreSQL loads per cold key, worst of 2", "open-loop events found on the stream", "mix: stale reads, page one"}
	if !slices.Equal(failed, want) {
		t.Errorf("failed correctness goals %q, want %q", failed, want)
	}
	if met, goals := r.correctnessMet(); met != 1 || goals != 4 {
		t.Errorf("correctness goals met %d of %d, want 1 of 4", met, goals)
	}

	// The command fails with a line naming each missed correctness goal.
	var stderr bytes.Buffer
	if code := service.ExitCode(r.correctnessError(), &stderr); code == 0 {
		t.Fatal("exit status 0 with correctness goals missed")
	}
	for _, line := range []string{
		"correctness goal missed: read: stampede: PostgreSQL loads per cold key, worst of 2 is 2, goal = 1",
		"correctness goal missed: relay: open-loop events found on the stream is 1,199, goal = 1,200",
		"correctness goal missed: mix: stale reads, page one is 3, goal = 0",
	} {
		if !strings.Contains(stderr.String(), line+"\n") {
			t.Errorf("error output lacks the line %q:\n%s", line, stderr.String())
		}
	}
	for _, speed := range []string{"POST /api/v1/orders is", "peak RSS", "hit ratio"} {
		if strings.Contains(stderr.String(), speed) {
			t.Errorf("a speed goal is named as a failure (%q):\n%s", speed, stderr.String())
		}
	}

	// Speed goals alone, however badly missed, leave the exit status 0.
	speedOnly := &Report{}
	speedOnly.add(
		figure("POST /api/v1/orders", 1, "orders/s").against(base).goal("ratio", ">=", 0.5),
		figure("mix hit ratio, page one", 0, "%").goal("value", ">=", 99),
		figure("POST /api/v1/orders failed (non-201)", 0, "").correct(0),
	)
	if err := speedOnly.correctnessError(); err != nil {
		t.Errorf("speed goals missed made the run fail: %v", err)
	}
	if code := service.ExitCode(speedOnly.correctnessError(), &bytes.Buffer{}); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}

	// The results file says which goals are correctness goals.
	js, err := json.Marshal(r.Rows[1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"correctness":true`) {
		t.Errorf("JSON row %s lacks the correctness mark", js)
	}
}

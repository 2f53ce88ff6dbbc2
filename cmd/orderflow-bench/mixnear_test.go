package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/service"
)

func TestHistogramMaxBound(t *testing.T) {
	upper := []float64{.001, .0025, .005, .01}
	tests := []struct {
		name  string
		h     histogram
		bound float64
		above bool
	}{
		{"empty", histogram{upper: upper, cum: []float64{0, 0, 0, 0}}, 0, false},
		{"all in the first bucket", histogram{upper: upper, cum: []float64{5, 5, 5, 5}, count: 5}, .001, false},
		{"slowest in the third", histogram{upper: upper, cum: []float64{5, 8, 9, 9}, count: 9}, .005, false},
		{"some beyond the highest bound", histogram{upper: upper, cum: []float64{5, 8, 9, 9}, count: 10}, .01, true},
	}
	for _, tt := range tests {
		if bound, above := tt.h.maxBound(); bound != tt.bound || above != tt.above {
			t.Errorf("%s: %g, %t; want %g, %t", tt.name, bound, above, tt.bound, tt.above)
		}
	}
}

// TestBoundedReadSlack checks a max-stale read's verdict: stale when judged
// as strict, fresh within its slack, stale once the write is older than
// the slack; widen adds the backplane's delay to one phase only.
func TestBoundedReadSlack(t *testing.T) {
	s := newStaleCheck()
	s.seeded("product:p", priceValue(500))
	s.wrote("product:p", 2, "1000001", at(1000))
	read := func(phase string, sent int, slack time.Duration) {
		s.read(staleRead{kind: mixProduct, phase: phase, sent: at(sent), slack: slack, seen: []seenValue{{id: "p", value: "500"}}})
	}
	read("strict", 1500, 0)
	read("bounded", 1500, time.Second) // the write 0.5 s old: within 1 s
	read("bounded", 2100, time.Second) // 1.1 s old: stale
	read("widened", 2100, time.Second) // 1.1 s old, plus 250 ms of backplane: fresh
	read("widened", 2300, time.Second) // 1.3 s old: stale even so
	s.widen("widened", 250*time.Millisecond)
	got := s.judge()
	if c := got["strict"][mixProduct]; c.stale != 1 {
		t.Errorf("strict: %+v, want the read stale", c)
	}
	if c := got["bounded"][mixProduct]; c.reads != 2 || c.judged != 1 || c.stale != 1 {
		t.Errorf("bounded: %+v, want 2 reads, the one within its slack not judged, the other stale", c)
	}
	if c := got["widened"][mixProduct]; c.reads != 2 || c.judged != 1 || c.stale != 1 {
		t.Errorf("widened: %+v, want the read within slack plus delay not judged, the later one stale", c)
	}
}

// TestMaxStaleTargetRecordsBothVerdicts checks that a max-stale read is
// judged twice: as if strict under the target's phase, and with its slack
// under the bounded phase; a strict target records once.
func TestMaxStaleTargetRecordsBothVerdicts(t *testing.T) {
	sd := &mixSeed{stale: newStaleCheck()}
	b := &boundedReads{}
	race := mixTarget{sd: sd, phase: "ORDERFLOW_NEAR_CACHE=true race"}
	bounded := b.target(race, time.Second)
	race.judge(staleRead{kind: mixProfile, subject: "c", seen: []seenValue{{version: 1}}})
	bounded.judge(staleRead{kind: mixProfile, subject: "c", seen: []seenValue{{version: 1}}})
	phases := map[string]time.Duration{}
	for _, r := range sd.stale.reads {
		phases[r.phase] = r.slack
	}
	want := map[string]time.Duration{
		"ORDERFLOW_NEAR_CACHE=true race":                              0,
		"ORDERFLOW_NEAR_CACHE=true race, max-stale=1":                 0,
		"ORDERFLOW_NEAR_CACHE=true race, max-stale=1" + boundedSuffix: time.Second,
	}
	if len(sd.stale.reads) != 3 || len(phases) != len(want) {
		t.Fatalf("recorded %+v, want one strict read and a bounded one twice", sd.stale.reads)
	}
	for p, slack := range want {
		if got, ok := phases[p]; !ok || got != slack {
			t.Errorf("phase %q: slack %v (recorded %t), want %v", p, got, ok, slack)
		}
	}
	if b.label != "ORDERFLOW_NEAR_CACHE=true race, max-stale=1" {
		t.Errorf("label %q", b.label)
	}
}

// TestReportMixNear checks the near cache's rows: a stale strict read or a
// bounded read older than promised fails the command, a strict verdict on
// a bounded read does not; the L1 share and the backplane's quantiles come
// from the metric deltas.
func TestReportMixNear(t *testing.T) {
	window := func() *loadResult { return &loadResult{Wall: time.Second, ErrorKinds: map[string]int{}} }
	run := func(m mixMode) *mixRun {
		return &mixRun{mode: m, res: window(), race: window(), cache: map[string]map[string]float64{}, loads: map[string]float64{}}
	}
	cached, uncached, near := run(mixCached), run(mixUncached), run(mixNear)
	near.cache["customer"] = map[string]float64{"hit": 90, "miss": 10}
	near.cache["product"] = map[string]float64{"hit": 100}
	upper := []float64{.0001, .00025, .0005, .001}
	near.near = &nearProbe{
		hits:      map[string]float64{"customer": 50, "product": 100},
		delay:     histogram{upper: upper, cum: []float64{0, 0, 3, 3}, count: 3},
		raceDelay: histogram{upper: upper, cum: []float64{100, 200, 200, 200}, count: 200},
	}
	near.raceStale = &[mixKinds]staleCount{mixProfile: {reads: 4, judged: 4, stale: 1, samples: []string{"customer profile of customer c …"}}}
	near.bounded = &boundedReads{label: "b", maxStale: time.Second,
		strict: &[mixKinds]staleCount{mixPageOne: {reads: 9, judged: 9, stale: 5}},
		within: &[mixKinds]staleCount{mixPageOne: {reads: 9, judged: 2, stale: 0}}}
	e := &env{cfg: Config{Quick: true, Clients: 16}}
	r := &Report{section: "mix"}
	reportMix(e, r, &mixSeed{}, cached, uncached, near, &mixRate{perSecond: 100}, &queryCounter{unavailable: "not in a unit test"})

	rows := map[string]Row{}
	for _, row := range r.Rows {
		rows[row.Figure] = row
	}
	find := func(prefix string) Row {
		t.Helper()
		for name, row := range rows {
			if strings.HasPrefix(name, prefix) {
				return row
			}
		}
		t.Fatalf("no row %q among %d", prefix, len(rows))
		return Row{}
	}
	if got := find("mix (near cache): L1 share of the reading API's cache reads (200 reads)").Value.Value; got != 75 {
		t.Errorf("L1 share %g %%, want 75", got)
	}
	if !strings.Contains(r.notesText(), "customer 50.0 % of 100") {
		t.Errorf("notes lack the customer family's L1 share:\n%s", r.notesText())
	}
	p99 := find("mix (near cache): backplane delivery p99, race (200 deliveries)")
	if math.Abs(p99.Value.Value-0.247) > 1e-9 {
		t.Errorf("race p99 %g ms, want 0.247 (interpolated in the second bucket)", p99.Value.Value)
	}
	find("mix (near cache): backplane delivery p99, window (3 deliveries, too few for a p99")
	var stderr bytes.Buffer
	if service.ExitCode(r.correctnessError(), &stderr) == 0 {
		t.Fatal("a stale read in the near window left the exit status 0")
	}
	if n := strings.Count(stderr.String(), "correctness goal missed:"); n != 1 || !strings.Contains(stderr.String(), "mix (near cache, across two instances): stale reads, customer profile") {
		t.Errorf("want only the near cache's profile row missed:\n%s", stderr.String())
	}

	near.raceStale = nil
	near.bounded.within[mixPageOne] = staleCount{reads: 9, judged: 2, stale: 1}
	r = &Report{section: "mix"}
	reportMix(e, r, &mixSeed{}, cached, uncached, near, &mixRate{perSecond: 100}, &queryCounter{unavailable: "not in a unit test"})
	stderr.Reset()
	if service.ExitCode(r.correctnessError(), &stderr) == 0 || !strings.Contains(stderr.String(), "max-stale=1 reads older than 1s plus the backplane's delay") {
		t.Errorf("a bounded read older than promised must fail the command:\n%s", stderr.String())
	}
}

package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/service"
)

// TestNextClients checks the search for the clients that saturate the
// machine: it doubles while a doubling gains 5 % or more, settles on the
// fewest clients that reached the highest rate, and stops at the cap.
func TestNextClients(t *testing.T) {
	first := mixMaxFirstClients()
	best, next, more := nextClients(nil)
	if best != 0 || next != first || !more {
		t.Fatalf("start: best %d, next %d, more %t; want 0, %d, true", best, next, more, first)
	}
	tries := func(rates ...float64) []mixMaxTry {
		out := make([]mixMaxTry, len(rates))
		for i, r := range rates {
			out[i] = mixMaxTry{clients: first << i, rate: r}
		}
		return out
	}
	tests := []struct {
		name  string
		rates []float64
		best  int
		more  bool
	}{
		{"one step: try twice as many", []float64{1000}, first, true},
		{"a doubling gained 20 %: go on", []float64{1000, 1200}, 2 * first, true},
		{"a doubling gained 3 %: saturated, keep the fewer", []float64{1000, 1200, 1236}, 2 * first, false},
		{"a doubling lost: saturated", []float64{1000, 1200, 900}, 2 * first, false},
		{"6 % is a gain", []float64{1000, 1060}, 2 * first, true},
	}
	for _, tt := range tests {
		best, next, more := nextClients(tries(tt.rates...))
		if best != tt.best || more != tt.more || more && next != 2*(first<<(len(tt.rates)-1)) {
			t.Errorf("%s: best %d, next %d, more %t; want best %d, more %t", tt.name, best, next, more, tt.best, tt.more)
		}
	}
	var rising []float64
	for r := 1000.0; ; r *= 2 {
		rising = append(rising, r)
		if _, _, more := nextClients(tries(rising...)); !more {
			break
		}
		if len(rising) > 10 {
			t.Fatal("the search never stops")
		}
	}
	if best, _, _ := nextClients(tries(rising...)); best > mixMaxLastClients || 2*best <= mixMaxLastClients {
		t.Errorf("ever faster: stopped at %d clients, want the last doubling within %d", best, mixMaxLastClients)
	}
}

// TestReportMixMax checks the maximum's rows: the cached maximum against
// the uncached one is a speed goal, reported but never failing the run; a
// failed request is a correctness goal; PostgreSQL's CPU is per 100 reads.
func TestReportMixMax(t *testing.T) {
	measured := func(rate float64, failed int, reads int64, pg time.Duration) *mixMax {
		m := &mixMax{
			tries:    []mixMaxTry{{clients: 4, rate: rate}},
			res:      &loadResult{Clients: 4, Wall: time.Second, OK: int(rate), ErrorKinds: map[string]int{}},
			reads:    reads,
			apiCPU:   time.Second,
			pgCPU:    pg,
			failures: &loadResult{Failed: failed, ErrorKinds: map[string]int{}},
		}
		if failed > 0 {
			m.failures.ErrorKinds["HTTP 500"] = failed
			m.failures.ErrorSamples = []string{"GET /api/v1/products: HTTP 500"}
		}
		return m
	}
	e := &env{cfg: Config{Quick: true, Clients: 16}}
	rows := func(r *Report) map[string]Row {
		out := map[string]Row{}
		for _, row := range r.Rows {
			out[row.Figure] = row
		}
		return out
	}

	// Cached only 2× the uncached maximum: the goal is missed, the run is not failed.
	r := &Report{section: "mix"}
	reportMixMax(e, r, measured(2000, 0, 1980, 20*time.Millisecond), measured(1000, 0, 990, 500*time.Millisecond))
	got := rows(r)
	headline := got["mix: closed-loop maximum (cached, 4 clients)"]
	if headline.Ratio == nil || *headline.Ratio != 2 || headline.Goal == nil || headline.Goal.Correctness || *headline.Met {
		t.Errorf("headline row %+v: want ratio 2 against a ≥ 3 speed goal, missed", headline)
	}
	if err := r.correctnessError(); err != nil {
		t.Errorf("a missed speed goal failed the run: %v", err)
	}
	pg := got["mix at the maximum: PostgreSQL CPU per 100 reads (cached)"]
	near := func(a, b float64) bool { return a > 0.999*b && a < 1.001*b }
	if pg.Baseline == nil || !near(pg.Value.Value, 100*20/1980.) || !near(pg.Baseline.Value, 100*500/990.) || pg.Value.Unit != "ms" {
		t.Errorf("PostgreSQL row %+v: want ms per 100 reads, cached against uncached", pg)
	}
	if failed, ok := got["mix: closed-loop maximum, failed requests (warm-ups, searches and windows, cached + uncached)"]; !ok || !failed.Goal.Correctness || !*failed.Met {
		t.Errorf("failures row %+v: want a correctness goal, met", failed)
	}

	// One failed request fails the run, and the notes show it.
	r = &Report{section: "mix"}
	reportMixMax(e, r, measured(4000, 1, 3960, 0), measured(1000, 0, 990, 0))
	if !*rows(r)["mix: closed-loop maximum (cached, 4 clients)"].Met {
		t.Error("4× the uncached maximum missed the ≥ 3× goal")
	}
	var stderr bytes.Buffer
	if service.ExitCode(r.correctnessError(), &stderr) == 0 || !strings.Contains(stderr.String(), "closed-loop maximum, failed requests") {
		t.Errorf("a failed request at the maximum left the run passing:\n%s", stderr.String())
	}
	if !strings.Contains(r.notesText(), "GET /api/v1/products: HTTP 500") {
		t.Errorf("the notes lack the failure:\n%s", r.notesText())
	}

	// PostgreSQL on another machine: no CPU row, a note saying why.
	r = &Report{section: "mix"}
	unmeasured := measured(1000, 0, 990, 0)
	unmeasured.pgErr = "the server's backend 42 is not a process of this machine"
	reportMixMax(e, r, measured(4000, 0, 3960, 0), unmeasured)
	if _, ok := rows(r)["mix at the maximum: PostgreSQL CPU per 100 reads (cached)"]; ok {
		t.Error("a PostgreSQL CPU row without a measurement")
	}
	if !strings.Contains(r.notesText(), "not a process of this machine") {
		t.Errorf("the notes do not say why PostgreSQL's CPU is missing:\n%s", r.notesText())
	}
}

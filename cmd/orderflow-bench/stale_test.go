package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/cmd/internal/service"
)

// at is a moment of a test's timeline, ms milliseconds after a fixed start.
func at(ms int) time.Time {
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(ms) * time.Millisecond)
}

func TestStaleCheckVerdicts(t *testing.T) {
	s := newStaleCheck()
	// Product p: seeded at 500 cents; price changes answered at 10 ms
	// (version 3, 1000001) and 20 ms (version 5, 1000002); a third (version
	// 6, 1000003) was sent but only answered at 40 ms.
	s.seeded("product:p", priceValue(500))
	s.wrote("product:p", 3, "1000001", at(10))
	s.wrote("product:p", 5, "1000002", at(20))
	s.wrote("product:p", 6, "1000003", at(40))
	// Product q: never written.
	s.seeded("product:q", priceValue(700))
	// Customer c: profile updated (version 4) at 10 ms; order o placed at
	// 10 ms (version 1), paid at 20 ms (version 2); order n placed at 30 ms.
	s.wrote("customer:c", 4, "", at(10))
	s.placedOrder("c", "o", "placed", 1, at(9), at(10))
	s.wrote("order:o", 2, "paid", at(20))
	s.placedOrder("c", "n", "placed", 1, at(29), at(30))

	product := func(kind mixKind, sent int, prices ...string) staleRead {
		r := staleRead{kind: kind, phase: "test", sent: at(sent)}
		for i, p := range prices {
			r.seen = append(r.seen, seenValue{id: []string{"p", "q"}[i], value: p})
		}
		return r
	}
	orders := func(sent int, seen ...seenValue) staleRead {
		return staleRead{kind: mixOrders, phase: "test", sent: at(sent), subject: "c", seen: seen}
	}
	tests := []struct {
		name          string
		read          staleRead
		judged, stale bool
		unknown       bool
	}{
		{"product read before any answer: not judged", product(mixProduct, 5, "500"), false, false, false},
		{"product read sent at the very moment of the answer: not judged", product(mixProduct, 10, "500"), false, false, false},
		{"product shows the newest answered price", product(mixProduct, 25, "1000002"), true, false, false},
		{"product shows a price still being written: newer, fresh", product(mixProductSKU, 25, "1000003"), true, false, false},
		{"product shows the price the answered write replaced", product(mixProduct, 25, "1000001"), true, true, false},
		{"product by SKU shows the seeded price after a change", product(mixProductSKU, 11, "500"), true, true, false},
		{"product shows a price nobody set", product(mixProduct, 25, "42"), true, false, true},
		{"page one: the written product fresh, an unwritten one ignored", product(mixPageOne, 25, "1000002", "700"), true, false, false},
		{"public catalogue: the written product stale", product(mixPublic, 25, "1000001", "700"), true, true, false},
		{"profile at the answered version", staleRead{kind: mixProfile, phase: "test", sent: at(11), subject: "c", seen: []seenValue{{version: 4}}}, true, false, false},
		{"profile older than the answered update", staleRead{kind: mixProfile, phase: "test", sent: at(11), subject: "c", seen: []seenValue{{version: 3}}}, true, true, false},
		{"profile read before the update's answer", staleRead{kind: mixProfile, phase: "test", sent: at(9), subject: "c", seen: []seenValue{{version: 3}}}, false, false, false},
		{"summaries list the order, paid", orders(21, seenValue{id: "o", value: "paid", placedAt: at(9)}), true, false, false},
		{"summaries list the order with the status the payment replaced", orders(21, seenValue{id: "o", value: "placed", placedAt: at(9)}), true, true, false},
		{"summaries leave out an answered placement", orders(31, seenValue{id: "o", value: "paid", placedAt: at(9)}), true, true, false},
		{"summaries before the placement's answer need not list it", orders(15, seenValue{id: "o", value: "placed", placedAt: at(9)}), true, false, false},
	}
	s.judge() // orders the answers, as before the verdicts of a run
	for _, tt := range tests {
		v := s.verdict(tt.read)
		if v.judged != tt.judged || (v.stale != "") != tt.stale || v.unknown != tt.unknown {
			t.Errorf("%s: judged %t, stale %q, unknown %t; want judged %t, stale %t, unknown %t",
				tt.name, v.judged, v.stale, v.unknown, tt.judged, tt.stale, tt.unknown)
		}
	}
}

func TestStaleCheckCountsByPhaseAndKind(t *testing.T) {
	s := newStaleCheck()
	s.seeded("product:p", priceValue(500))
	s.wrote("product:p", 2, "1000001", at(10))
	s.read(staleRead{kind: mixPageOne, phase: "cached window", sent: at(30), seen: []seenValue{{id: "p", value: "500"}}})
	s.read(staleRead{kind: mixPageOne, phase: "cached window", sent: at(500), seen: []seenValue{{id: "p", value: "1000001"}}})
	s.read(staleRead{kind: mixPageOne, phase: "cached window", sent: at(5), seen: []seenValue{{id: "p", value: "500"}}})
	s.read(staleRead{kind: mixProduct, phase: "", sent: at(30), seen: []seenValue{{id: "p", value: "500"}}})
	got := s.judge()
	if len(got) != 1 || got["cached window"] == nil {
		t.Fatalf("phases %v, want only the cached window (reads outside a phase are not kept)", got)
	}
	c := got["cached window"][mixPageOne]
	if c.reads != 3 || c.judged != 2 || c.raced != 1 || c.stale != 1 || len(c.samples) != 1 {
		t.Errorf("page one: %+v, want 3 reads, 2 judged, 1 within %s, 1 stale with its sample", c, raceWindow)
	}
	if !strings.Contains(c.samples[0], "price 500 of version 0") {
		t.Errorf("sample %q does not say what was stale", c.samples[0])
	}
	if text := staleText(got["cached window"]); !strings.Contains(text, "page one 1 stale of 2 judged") {
		t.Errorf("text %q", text)
	}
}

func TestCrowdedOut(t *testing.T) {
	full := make([]seenValue, app.CustomerOrdersLimit)
	for i := range full {
		full[i] = seenValue{id: fmt.Sprint(i), placedAt: at(1000 - i)}
	}
	oldest := at(1000 - app.CustomerOrdersLimit + 1)
	if !crowdedOut(placedOrder{placedAt: oldest.Add(-time.Second)}, full) {
		t.Error("an order older than a full list's oldest is crowded out")
	}
	if crowdedOut(placedOrder{placedAt: oldest.Add(time.Second)}, full) {
		t.Error("an order newer than a full list's oldest must be listed")
	}
	if crowdedOut(placedOrder{placedAt: oldest.Add(-time.Second)}, full[:10]) {
		t.Error("a list that is not full crowds nothing out")
	}
}

func TestUniquePrices(t *testing.T) {
	s := newStaleCheck()
	seen := map[int64]bool{}
	for range 1000 {
		p := s.price()
		if seen[p] || p <= 100+10_000 {
			t.Fatalf("price %d repeated or within the seeded range", p)
		}
		seen[p] = true
	}
}

// TestReportMixStaleReads checks the mix's rows: one stale-read row per
// read kind, each a correctness goal, so a stale read fails the command.
func TestReportMixStaleReads(t *testing.T) {
	window := func() *loadResult { return &loadResult{Wall: time.Second, ErrorKinds: map[string]int{}} }
	runs := map[bool]*mixRun{}
	for _, cached := range []bool{false, true} {
		runs[cached] = &mixRun{mode: map[bool]mixMode{false: mixUncached, true: mixCached}[cached], res: window(), race: window(), cache: map[string]map[string]float64{}, loads: map[string]float64{}}
	}
	stale := &[mixKinds]staleCount{}
	stale[mixPageOne] = staleCount{reads: 10, judged: 8, raced: 2, stale: 2, samples: []string{"page one sent 3ms after …"}}
	runs[true].raceStale = stale
	runs[true].stale = &[mixKinds]staleCount{mixProduct: {reads: 5, judged: 1}}
	e := &env{cfg: Config{Quick: true, Clients: 16}}
	r := &Report{section: "mix"}
	reportMix(e, r, &mixSeed{}, runs[true], runs[false], nil, &mixRate{perSecond: 100}, &queryCounter{unavailable: "not in a unit test"})

	rows := map[string]Row{}
	for _, row := range r.Rows {
		if strings.HasPrefix(row.Figure, "mix: stale reads") {
			rows[row.Figure] = row
		}
	}
	reads := 0
	for _, s := range mixSpecs() {
		if !s.write {
			reads++
		}
	}
	if len(rows) != reads+1 {
		t.Errorf("%d stale-read rows, want one per read kind (%d) and the control", len(rows), reads)
	}
	for name, row := range rows {
		if row.Goal == nil || !row.Goal.Correctness {
			t.Errorf("%s: not a correctness goal", name)
		}
	}
	var stderr bytes.Buffer
	if service.ExitCode(r.correctnessError(), &stderr) == 0 {
		t.Fatal("a stale read left the exit status 0")
	}
	if want := "mix: stale reads, page one (family product_list; 8 of 10 reads judged, window and race) is 2, goal = 0"; !strings.Contains(stderr.String(), want) {
		t.Errorf("error output lacks %q:\n%s", want, stderr.String())
	}
	if n := strings.Count(stderr.String(), "correctness goal missed:"); n != 1 {
		t.Errorf("%d correctness goals missed, want only page one's:\n%s", n, stderr.String())
	}
	if !strings.Contains(r.notesText(), "page one sent 3ms after") {
		t.Errorf("the notes lack the stale read's sample:\n%s", r.notesText())
	}
}

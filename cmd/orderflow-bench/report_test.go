package main

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
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

package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func fakeEnv(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{
			name: "defaults from the environment",
			args: []string{"write"},
			env:  map[string]string{"ORDERFLOW_DATABASE_URL": "postgres://x@127.0.0.1/db", "ORDERFLOW_CLIENTS": "4"},
			check: func(t *testing.T, c Config) {
				if c.Clients != 4 || c.Duration() != 15*time.Second || c.Rounds() != 5 || c.LongStream() != 100_000 || c.LoadIterations() != 2_000 {
					t.Errorf("config %+v", c)
				}
				if got, want := c.reproduceCommand("write"), "make bench ARGS='write --clients=4'"; got != want {
					t.Errorf("command %q, want %q", got, want)
				}
			},
		},
		{
			name: "quick shortens every phase, a flag wins",
			args: []string{"write", "--quick", "--duration=6s"},
			env:  map[string]string{"ORDERFLOW_DATABASE_URL": "postgres://x@127.0.0.1/db"},
			check: func(t *testing.T, c Config) {
				if c.Duration() != 6*time.Second || c.Rounds() != 3 || c.LongStream() != 10_000 || c.LoadBudget() != 10*time.Second {
					t.Errorf("config %+v", c)
				}
				if got, want := c.reproduceCommand("write"), "BENCH_QUICK=1 make bench ARGS='write --duration=6s'"; got != want {
					t.Errorf("command %q, want %q", got, want)
				}
			},
		},
		{
			name: "no suite runs all, quick sizes",
			args: []string{"--quick"},
			env:  map[string]string{"ORDERFLOW_DATABASE_URL": "postgres://x"},
			check: func(t *testing.T, c Config) {
				if c.RelayBacklog() != 20_000 || c.ProjectorLog() != 20_000 || c.OpenLoop() != 3*time.Second || c.StampedeKeys() != 2 || c.StampedeGets != 1000 ||
					c.Mix() != 2*time.Second || c.MixRace() != 2*time.Second || c.MixProducts() != 1_000 || c.MixCustomers() != 200 || c.MixRequestRate() != 0 {
					t.Errorf("config %+v", c)
				}
				if got, want := c.reproduceCommand(allSuites), "BENCH_QUICK=1 make bench"; got != want {
					t.Errorf("command %q, want %q", got, want)
				}
			},
		},
		{
			name: "mix: full sizes by default, flags win",
			args: []string{"mix", "--mix-rate=2000", "--mix-duration=20s", "--mix-race=5s"},
			env:  map[string]string{"ORDERFLOW_DATABASE_URL": "postgres://x"},
			check: func(t *testing.T, c Config) {
				if c.Mix() != 20*time.Second || c.MixWarmup() != 10*time.Second || c.MixRace() != 5*time.Second || c.MixRequestRate() != 2000 || c.MixProducts() != 10_000 || c.MixCustomers() != 2_000 {
					t.Errorf("config %+v", c)
				}
				if got, want := c.reproduceCommand("mix"), "make bench ARGS='mix --mix-duration=20s --mix-race=5s --mix-rate=2000'"; got != want {
					t.Errorf("command %q, want %q", got, want)
				}
			},
		},
		{name: "unknown suite", args: []string{"nosuch"}, env: map[string]string{"ORDERFLOW_DATABASE_URL": "postgres://x"}, wantErr: "unknown suite"},
		{name: "suite after flags", args: []string{"--quick", "read"}, env: map[string]string{"ORDERFLOW_DATABASE_URL": "postgres://x"}, wantErr: "the suite comes first"},
		{name: "database required", args: []string{"write"}, wantErr: "database URL is required"},
		{name: "long stream in whole chunks", args: []string{"write", "--long-stream=1500"}, env: map[string]string{"ORDERFLOW_DATABASE_URL": "postgres://x"}, wantErr: "multiple of 1000"},
		{name: "malformed environment", args: []string{"write"}, env: map[string]string{"ORDERFLOW_DATABASE_URL": "postgres://x", "ORDERFLOW_CLIENTS": "many"}, wantErr: "not an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			m := NewMain(&bytes.Buffer{}, &stderr, fakeEnv(tt.env))
			chosen, name, err := m.ParseFlags(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := []string{tt.args[0]}
			if name == allSuites {
				want = []string{"write", "read", "relay", "projector", "mix"}
			}
			var got []string
			for _, s := range chosen {
				got = append(got, s.name)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("suites %v, want %v", got, want)
			}
			tt.check(t, m.Config)
		})
	}
}

func TestHelpListsSuitesAndEnvironment(t *testing.T) {
	var stderr bytes.Buffer
	_, _, err := NewMain(&bytes.Buffer{}, &stderr, fakeEnv(nil)).ParseFlags([]string{"--help"})
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("error %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"all", "write", "read", "relay", "projector", "mix", "-mix-rate", "ORDERFLOW_DATABASE_URL", "--quick", "BENCH_QUICK=1 make bench", "-clients", "-relay-backlog"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestWithUser(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://postgres@127.0.0.1:5432/bench_x?sslmode=disable", "postgres://reader@127.0.0.1:5432/bench_x?sslmode=disable"},
		{"postgresql://u:secret@127.0.0.1/db", "postgresql://reader@127.0.0.1/db"},
		{"host=127.0.0.1 dbname=db", "host=127.0.0.1 dbname=db user=reader password=''"},
	}
	for _, tt := range tests {
		got, err := withUser(tt.in, "reader")
		if err != nil || got != tt.want {
			t.Errorf("withUser(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestAnonymousRoutes(t *testing.T) {
	tests := []struct {
		method, path string
		want         bool
	}{
		{"GET", "/api/v1/products", true},
		{"GET", "/api/v1/products/0190c8a0-0000-7000-8000-000000000000", true},
		{"GET", "/public/products", true},
		{"POST", "/api/v1/customers", true},
		{"GET", "/metrics", true},
		{"GET", "/api/v1/customers/0190c8a0-0000-7000-8000-000000000000", false},
		{"GET", "/api/v1/customers/0190c8a0-0000-7000-8000-000000000000/orders", false},
		{"POST", "/api/v1/products", false},
		{"PUT", "/api/v1/products/0190c8a0-0000-7000-8000-000000000000/price", false},
		{"POST", "/api/v1/orders", false},
		{"PATCH", "/api/v1/customers/0190c8a0-0000-7000-8000-000000000000", false},
		{"GET", "/api/v1/admin/cache/stats", false},
	}
	for _, tt := range tests {
		if got := anonymousRoute(tt.method, tt.path); got != tt.want {
			t.Errorf("anonymousRoute(%s %s) = %t, want %t", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestMixSchedule(t *testing.T) {
	products, customers := make([]string, 1000), make([]string, 100)
	for i := range products {
		products[i] = fmt.Sprint("p", i)
	}
	for i := range customers {
		customers[i] = fmt.Sprint("c", i)
	}
	const n = 200_000
	ops := newMixSchedule(rand.New(rand.NewPCG(1, 2)), n, products, customers)
	if len(ops) != n {
		t.Fatalf("%d ops, want %d", len(ops), n)
	}
	specs := mixSpecs()
	var kinds [mixKinds]int
	productHits := map[int]int{}
	for _, op := range ops {
		kinds[op.kind]++
		productHits[op.product]++
		if op.kind == mixPlaceOrder {
			if len(op.lines) < 1 || len(op.lines) > 3 || len(op.lines) != len(slices.Compact(slices.Sorted(slices.Values(op.lines)))) {
				t.Fatalf("order lines %v: want 1–3 distinct products", op.lines)
			}
		}
	}
	writes := 0
	for k, s := range specs {
		share := float64(kinds[k]) / n * 10_000
		if share < 0.8*float64(s.weight) || share > 1.2*float64(s.weight) {
			t.Errorf("%s: %.0f per 10,000, want about %d", s.name, share, s.weight)
		}
		if s.write {
			writes += kinds[k]
		}
	}
	if share := float64(writes) / n; share < 0.008 || share > 0.012 {
		t.Errorf("writes are %.2f %% of the mix, want about 1 %%", 100*share)
	}
	// Zipf with s = 1.1 over 1,000 ranks gives the top rank about 18 % of
	// the draws, the top 10 about 48 %; uniform would give 0.1 % and 1 %.
	counts := make([]int, 0, len(productHits))
	for _, c := range productHits {
		counts = append(counts, c)
	}
	slices.Sort(counts)
	slices.Reverse(counts)
	top10 := 0
	for _, c := range counts[:10] {
		top10 += c
	}
	if share := float64(top10) / n; share < 0.3 || share > 0.6 {
		t.Errorf("the 10 most read products have %.0f %% of the reads, want a Zipf skew of about 48 %%", 100*share)
	}
}

func TestWithDatabase(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:p@127.0.0.1:5432/orderflow?sslmode=disable", "postgres://u:p@127.0.0.1:5432/bench_x?sslmode=disable"},
		{"postgresql://127.0.0.1", "postgresql://127.0.0.1/bench_x"},
		{"host=127.0.0.1 dbname=orderflow", "host=127.0.0.1 dbname=orderflow dbname=bench_x"},
	}
	for _, tt := range tests {
		got, err := withDatabase(tt.in, "bench_x")
		if err != nil || got != tt.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

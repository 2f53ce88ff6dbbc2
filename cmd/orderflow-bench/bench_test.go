package main

import (
	"bytes"
	"errors"
	"flag"
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
				if c.RelayBacklog() != 20_000 || c.ProjectorLog() != 50_000 || c.OpenLoop() != 5*time.Second || c.StampedeKeys() != 2 || c.StampedeGets != 1000 {
					t.Errorf("config %+v", c)
				}
				if got, want := c.reproduceCommand(allSuites), "BENCH_QUICK=1 make bench"; got != want {
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
			want := []string{"write"}
			if name == allSuites {
				want = []string{"write", "read", "relay", "projector"}
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
	for _, want := range []string{"all", "write", "read", "relay", "projector", "ORDERFLOW_DATABASE_URL", "--quick", "BENCH_QUICK=1 make bench", "-clients", "-relay-backlog"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, stderr.String())
		}
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

package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/internal/testenv"
)

// TestEventsStats: `events stats` counts the log's events per type and
// schema version, and says which versions this build upcasts or cannot read.
func TestEventsStats(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t, testenv.Options{})
	for _, email := range []string{"a@example.com", "b@example.com"} {
		if _, err := env.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: email, Name: "A"}); err != nil {
			t.Fatal(err)
		}
	}
	// One event as a newer build would write it; the log is never
	// rewritten, so a count per version is what an operator needs.
	if _, err := env.Pool.Exec(ctx, `
		INSERT INTO events (event_id, stream_type, stream_id, version, event_type, schema_version, data, metadata, occurred_at)
		VALUES (gen_random_uuid(), 'customer', gen_random_uuid(), 1, 'CustomerRegistered', 2, '{}', '{}', now())`); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	settings := env.Settings()
	m := NewMain(&out, io.Discard, func(k string) (string, bool) { v, ok := settings[k]; return v, ok })
	if err := m.Run(ctx, []string{"events", "stats"}); err != nil {
		t.Fatalf("events stats: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := [][]string{
		{"EVENT", "TYPE", "SCHEMA", "EVENTS", "THIS", "BUILD"},
		{"CustomerRegistered", "v1", "2", "v1,", "current"},
		{"CustomerRegistered", "v2", "1", "v1,", "too", "new:", "cannot", "read"},
		{"3", "events,", "2", "type/version", "pairs"},
	}
	if len(lines) != len(want) {
		t.Fatalf("events stats printed %d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, w := range want {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("line %d = %q, want %q", i, lines[i], strings.Join(w, " "))
		}
	}
}

func TestEventsNeedsStats(t *testing.T) {
	m := NewMain(io.Discard, io.Discard, func(string) (string, bool) { return "", false })
	if _, err := m.ParseFlags([]string{"events", "count"}); err == nil {
		t.Fatal("events count parsed, want an error naming stats")
	}
}

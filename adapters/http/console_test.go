package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/ops"
	"github.com/orderflow/orderflow/internal/testenv"
)

// consoleFixture is what newCachedAPI wired the console with, kept per
// test for the console tests.
type consoleFixture struct {
	client redis.UniversalClient
	prefix string
	logs   *testenv.LogSink
}

// consoleFixtures maps a *testing.T to its consoleFixture.
var consoleFixtures sync.Map

func consoleOf(t *testing.T) consoleFixture {
	t.Helper()
	f, ok := consoleFixtures.Load(t)
	if !ok {
		t.Fatal("no console was wired for this test")
	}
	return f.(consoleFixture)
}

// newTestConsole wires the operations console as cmd/orderflow-api does,
// without the beat (the tests publish their own).
func newTestConsole(t *testing.T, client redis.UniversalClient, prefix string, c *cache.Cache) *ops.Console {
	t.Helper()
	state := orderflowredis.NewOpsState(client, prefix)
	logs := testenv.NewLogSink()
	consoleFixtures.Store(t, consoleFixture{client: client, prefix: prefix, logs: logs})
	t.Cleanup(func() { consoleFixtures.Delete(t) })
	console, err := ops.New(ops.Config{
		Beats: state, Audit: state, Replays: state, Verifications: state,
		DeadLetters: streams.NewConsoleQueue(client, prefix),
		Generation:  func(ctx context.Context) (string, error) { return c.Generation(), nil },
		Logger:      slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return console
}

// Bad input to the console's calls is a 400 problem naming the field,
// never a 500, and changes nothing.
func TestConsoleRefusesBadInput(t *testing.T) {
	a := newCachedAPI(t, cachedAPIOptions{})
	for _, tc := range []struct{ method, path, body, field string }{
		{http.MethodGet, "/api/v1/admin/dead-letters?limit=0", "", "limit"},
		{http.MethodGet, "/api/v1/admin/dead-letters?limit=101", "", "limit"},
		{http.MethodGet, "/api/v1/admin/dead-letters?limit=x", "", "limit"},
		{http.MethodGet, "/api/v1/admin/dead-letters?limit=1&limit=2", "", "limit"},
		{http.MethodPost, "/api/v1/admin/dead-letters/redrive", `{}`, "ids"},
		{http.MethodPost, "/api/v1/admin/dead-letters/redrive", `{"ids":[]}`, "ids"},
		{http.MethodPost, "/api/v1/admin/dead-letters/redrive", `{"ids":"1-0"}`, "ids"},
		{http.MethodPost, "/api/v1/admin/dead-letters/redrive", `{"ids":["1-0","+"]}`, "ids[1]"},
		{http.MethodPost, "/api/v1/admin/dead-letters/drop", `{"ids":["1-0"],"all":true}`, "ids"},
		{http.MethodPost, "/api/v1/admin/dead-letters/drop", `{"all":"yes"}`, "all"},
		{http.MethodPost, "/api/v1/admin/dead-letters/drop", `{"ids":[` + strings.Repeat(`"1-0",`, 100) + `"1-0"]}`, "ids"},
		{http.MethodPost, "/api/v1/admin/replay", `{"from":"elsewhere"}`, "from"},
		{http.MethodPost, "/api/v1/admin/replay", `{"from":null}`, "from"},
	} {
		r := a.call(tc.method, tc.path, tc.body)
		expectProblem(t, r, http.StatusBadRequest, "validation")
		if !bytes.Contains(r.body, []byte(`"field":"`+tc.field+`"`)) {
			t.Errorf("%s %s %s: problem names no field %q: %s", tc.method, tc.path, tc.body, tc.field, r.body)
		}
	}
	expectProblem(t, a.call(http.MethodPost, "/api/v1/admin/replay", `[]`), http.StatusBadRequest, "malformed-json")
	expectProblem(t, a.call(http.MethodPost, "/api/v1/admin/replay", `{"from":"auto"}`, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, "unsupported-media-type")
	if audit := overview(t, a).Audit; len(audit) != 0 {
		t.Errorf("refused input reached the audit list: %+v", audit)
	}
}

func overview(t *testing.T, a *cachedAPI) ops.Overview {
	t.Helper()
	r := a.call(http.MethodGet, "/api/v1/admin/overview", "")
	expect(t, r, http.StatusOK)
	var o ops.Overview
	if err := json.Unmarshal(r.body, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

// Every action lands in the audit list and the log with who did it; the
// overview sums the API instances' beats and shows the replay's state.
func TestConsoleAuditsActionsAndSumsBeats(t *testing.T) {
	a := newCachedAPI(t, cachedAPIOptions{})
	fx := consoleOf(t)
	state := orderflowredis.NewOpsState(fx.client, fx.prefix)
	ctx := t.Context()
	for i, name := range []string{"api-1", "api-2"} {
		b := ops.Beat{Kind: ops.KindAPI, Name: name, At: time.Now(), Breaker: "closed",
			Families: map[string]ops.FamilyCounts{"product": {Hits: int64(3 + i), Misses: 1}}}
		if err := state.Publish(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := state.Publish(ctx, ops.Beat{Kind: ops.KindRelay, Name: "relay-1", At: time.Now(), Active: true, Backlog: 7}); err != nil {
		t.Fatal(err)
	}
	o := overview(t, a)
	if f := o.Cache.Families["product"]; f.Hits != 7 || f.Misses != 2 || o.Cache.Breakers["closed"] != 2 {
		t.Errorf("cache figures: %+v breakers %v, want 7 hits and 2 misses over two closed instances", f, o.Cache.Breakers)
	}
	if o.Pipeline.ActiveRelay != "relay-1" || o.Pipeline.Backlog != 7 {
		t.Errorf("pipeline: %+v", o.Pipeline)
	}

	expect(t, a.call(http.MethodPost, "/api/v1/admin/replay", `{"from":"store"}`), http.StatusAccepted)
	expectProblem(t, a.call(http.MethodPost, "/api/v1/admin/replay", `{}`), http.StatusConflict, "conflict")
	if st := overview(t, a).Replay.Status; st == nil || st.Phase != ops.PhaseRequested || st.From != "store" {
		t.Fatalf("replay status after a request: %+v", st)
	}
	expect(t, a.call(http.MethodPost, "/api/v1/admin/replay/cancel", ""), http.StatusOK)
	expectProblem(t, a.call(http.MethodPost, "/api/v1/admin/replay/cancel", ""), http.StatusNotFound, "not-found")
	expect(t, a.call(http.MethodPost, "/api/v1/admin/dead-letters/drop", `{"all":true}`), http.StatusOK)

	o = overview(t, a)
	if o.Replay.Status == nil || o.Replay.Status.Phase != ops.PhaseCancelled {
		t.Errorf("replay status after the cancel: %+v", o.Replay.Status)
	}
	var actions []string
	for _, e := range o.Audit {
		if e.Actor != "admin:"+testAdmin {
			t.Errorf("audit entry without its actor: %+v", e)
		}
		actions = append(actions, e.Action+": "+e.Result)
	}
	want := []string{"drop parked entries: 0 dropped", "cancel replay: refused: no replay is requested or running",
		"cancel replay: withdrawn before it started", "start replay: refused: already running"}
	if len(actions) < len(want)+1 || strings.Join(actions[:len(want)], "|") != strings.Join(want, "|") {
		t.Errorf("audit list, newest first:\n%s\nwant it to begin with:\n%s", strings.Join(actions, "\n"), strings.Join(want, "\n"))
	}
	if logs := fx.logs.String(); strings.Count(logs, `"msg":"admin action"`) != len(actions) || !strings.Contains(logs, `"actor":"admin:`+testAdmin+`"`) {
		t.Errorf("audit log lines:\n%s", logs)
	}
}

// The page loads anonymously with a policy that lets it run its own
// script and call the API, and nothing else.
func TestConsolePageIsServedWithItsPolicy(t *testing.T) {
	a := newCachedAPI(t, cachedAPIOptions{})
	for path, ctype := range map[string]string{
		"/admin/console": "text/html", "/admin/console/console.js": "text/javascript", "/admin/console/console.css": "text/css",
	} {
		r := a.call(http.MethodGet, path, "", noToken...)
		expect(t, r, http.StatusOK)
		if !strings.HasPrefix(r.header.Get("Content-Type"), ctype) {
			t.Errorf("%s: Content-Type %q", path, r.header.Get("Content-Type"))
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
	}
	if r := a.call(http.MethodGet, "/admin/console", "", noToken...); !bytes.Contains(r.body, []byte(`src="/admin/console/console.js"`)) {
		t.Errorf("the page does not load its script:\n%s", r.body)
	}
	if r := a.call(http.MethodGet, "/api/v1/products", "", noToken...); strings.Contains(r.header.Get("Content-Security-Policy"), "script-src") {
		t.Error("the console's policy leaked onto the data routes")
	}
}

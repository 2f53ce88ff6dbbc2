package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get("Content-Type"), string(body)
}

// The ops server answers its three routes, outlives the context it was
// started with (the work drains while /healthz answers), and stops on Stop.
func TestStartOps(t *testing.T) {
	registry := NewRegistry()
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "orderflow_test_total", Help: "A test counter."})
	registry.MustRegister(counter)
	var notReady atomic.Pointer[error]
	var addr net.Addr
	ctx, cancel := context.WithCancel(context.Background())
	ops, err := StartOps(ctx, Ops{
		Addr:      "127.0.0.1:0",
		Logger:    slog.New(slog.DiscardHandler),
		Ready:     func(context.Context) error { return *notReady.Load() },
		Gatherer:  registry,
		Drain:     time.Second,
		Listening: func(a net.Addr) { addr = a },
	})
	if err != nil {
		t.Fatal(err)
	}
	if addr == nil {
		t.Fatal("StartOps returned before reporting its address")
	}
	base := "http://" + addr.String()

	for _, tc := range []struct {
		name, path       string
		notReady         error
		status           int
		contentType, has string
	}{
		{"Healthz", "/healthz", nil, http.StatusOK, "application/json", `"ok"`},
		{"Ready", "/readyz", nil, http.StatusOK, "application/json", `"ok"`},
		{"NotReady", "/readyz", errors.New("redis down"), http.StatusServiceUnavailable, "application/problem+json", "A dependency is not reachable."},
		{"HealthzWhileNotReady", "/healthz", errors.New("redis down"), http.StatusOK, "application/json", `"ok"`},
		{"Metrics", "/metrics", nil, http.StatusOK, "text/plain", "orderflow_test_total 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			notReady.Store(&tc.notReady)
			status, contentType, body := get(t, base+tc.path)
			if status != tc.status || !strings.HasPrefix(contentType, tc.contentType) || !strings.Contains(body, tc.has) {
				t.Errorf("GET %s = %d %s %q; want %d %s holding %q", tc.path, status, contentType, body, tc.status, tc.contentType, tc.has)
			}
			if strings.Contains(body, "redis down") {
				t.Errorf("GET %s tells the cause: %q", tc.path, body)
			}
		})
	}

	cancel()
	if status, _, _ := get(t, base+"/healthz"); status != http.StatusOK {
		t.Errorf("after the context ended, /healthz = %d, want 200 until Stop", status)
	}
	ops.Stop()
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the ops server still answers after Stop")
	}
}

// A taken address fails start-up instead of leaving the binary without
// its health checks.
func TestStartOpsAddressTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ops, err := StartOps(context.Background(), Ops{Addr: ln.Addr().String(), Logger: slog.New(slog.DiscardHandler),
		Ready: func(context.Context) error { return nil }, Gatherer: NewRegistry(), Drain: time.Second})
	if err == nil {
		ops.Stop()
		t.Fatalf("StartOps on a taken address %s succeeded", ln.Addr())
	}
}

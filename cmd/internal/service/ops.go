package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// OpsHandler serves what every background binary exposes: /healthz (the
// process runs), /readyz (ready returns nil, checked within 2 s) and
// /metrics from gatherer. Failures answer problem+json without detail; the
// cause goes to the log.
func OpsHandler(logger *slog.Logger, ready func(ctx context.Context) error, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, "application/json", map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			logger.Warn("not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, "application/problem+json", map[string]any{
				"type":   "https://orderflow.dev/problems/unavailable",
				"title":  "Service unavailable",
				"status": http.StatusServiceUnavailable,
				"detail": "A dependency is not reachable.",
			})
			return
		}
		writeJSON(w, http.StatusOK, "application/json", map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return mux
}

// Ops configures the ops server of a binary whose work is not HTTP (the
// relay, the projector).
type Ops struct {
	Addr   string
	Logger *slog.Logger
	// Ready reports whether the binary can do its work; see OpsHandler.
	Ready    func(ctx context.Context) error
	Gatherer prometheus.Gatherer
	// Drain is how long the server may take to stop.
	Drain time.Duration
	// Listening, when set, receives the bound address (Addr may end in :0).
	Listening func(net.Addr)
}

// OpsServer is a running ops server.
type OpsServer struct {
	logger *slog.Logger
	stop   context.CancelFunc
	done   chan error
}

// StartOps opens the ops server's address and serves OpsHandler in the
// background until Stop. A taken address is an error here, before the
// binary starts its work. The server outlives ctx: /healthz and /metrics
// keep answering while the work drains, until the binary calls Stop.
func StartOps(ctx context.Context, o Ops) (*OpsServer, error) {
	srv, err := Listen(o.Logger, o.Addr, OpsHandler(o.Logger, o.Ready, o.Gatherer), DefaultHTTPTimeouts())
	if err != nil {
		return nil, err
	}
	if o.Listening != nil {
		o.Listening(srv.Addr())
	}
	serveCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s := &OpsServer{logger: o.Logger, stop: stop, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(serveCtx, o.Drain) }()
	return s, nil
}

// Stop drains the ops server and waits for it; a failure is only logged,
// since the binary's work is over by then.
func (s *OpsServer) Stop() {
	s.stop()
	if err := <-s.done; err != nil {
		s.logger.Warn("ops server", "err", err)
	}
}

func writeJSON(w http.ResponseWriter, status int, contentType string, body any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// NewRegistry returns a metrics registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

package http

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/internal/testenv"
)

// testServer is a Server whose logs a test can read.
type testServer struct {
	*Server
	logs *testenv.LogSink
}

// newTestServer builds a Server over application with a private registry.
// Handlers only touch application's handlers when a request reaches them,
// so a zero app.Application serves every test that stops earlier.
func newTestServer(t *testing.T, application *app.Application, ready func(context.Context) error) testServer {
	t.Helper()
	if application == nil {
		application = &app.Application{}
	}
	if ready == nil {
		ready = func(context.Context) error { return nil }
	}
	logs := testenv.NewLogSink()
	reg := prometheus.NewRegistry()
	s, err := NewServer(Config{
		App:        application,
		Logger:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: reg,
		Gatherer:   reg,
		Ready:      ready,
		// These tests are about everything but auth (auth_test.go).
		AuthOff: true,
	})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	return testServer{Server: s, logs: logs}
}

// request describes one call; a non-empty body defaults to application/json.
type request struct {
	method, path, body string
	header             map[string]string
}

func (s testServer) do(t *testing.T, r request) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req := httptest.NewRequest(r.method, r.path, body)
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

// readProblem checks that rec is a problem of kind with status and returns it.
func readProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, kind problemKind) problem {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if got := rec.Header().Get("Content-Type"); got != problemContentType {
		t.Fatalf("Content-Type = %q, want %q", got, problemContentType)
	}
	var p problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("decode problem %s: %v", rec.Body, err)
	}
	if want := problemTypeBase + string(kind); p.Type != want {
		t.Fatalf("type = %q, want %q; body %s", p.Type, want, rec.Body)
	}
	if p.Status != status || p.Title == "" {
		t.Fatalf("status member %d, title %q; want %d and a title", p.Status, p.Title, status)
	}
	return p
}

// fieldMessages maps each failing field of a validation problem to its messages.
func fieldMessages(p problem) map[string][]string {
	m := map[string][]string{}
	for _, f := range p.Errors {
		m[f.Field] = append(m[f.Field], f.Message)
	}
	return m
}

// wantFields checks that the validation problem names exactly fields.
func wantFields(t *testing.T, p problem, fields ...string) {
	t.Helper()
	got := fieldMessages(p)
	for _, f := range fields {
		if _, ok := got[f]; !ok {
			t.Errorf("errors lack field %q; got %v", f, p.Errors)
		}
		delete(got, f)
	}
	for f, msgs := range got {
		t.Errorf("unexpected failing field %q: %v", f, msgs)
	}
}

func TestConfigValidate(t *testing.T) {
	ready := func(context.Context) error { return nil }
	reg := prometheus.NewRegistry()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"NoApp", Config{Ready: ready}, "App is required"},
		{"NoReady", Config{App: &app.Application{}}, "Ready is required"},
		{"HalfMetrics", Config{App: &app.Application{}, Ready: ready, Registerer: reg}, "Registerer and Gatherer"},
		{"NegativeLimit", Config{App: &app.Application{}, Ready: ready, BodyLimit: -1}, "BodyLimit"},
		{"NoTokens", Config{App: &app.Application{}, Ready: ready}, "Tokens is required unless AuthOff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewServer(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewServer error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	t.Run("Defaults", func(t *testing.T) {
		s, err := NewServer(Config{App: &app.Application{}, Ready: ready, AuthOff: true})
		if err != nil {
			t.Fatalf("NewServer: %v", err)
		}
		if s.bodyLimit != DefaultBodyLimit {
			t.Errorf("bodyLimit = %d, want %d", s.bodyLimit, DefaultBodyLimit)
		}
	})
	t.Run("MetricsRegisteredTwice", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		cfg := Config{App: &app.Application{}, Ready: ready, Registerer: reg, Gatherer: reg, AuthOff: true}
		if _, err := NewServer(cfg); err != nil {
			t.Fatalf("first NewServer: %v", err)
		}
		if _, err := NewServer(cfg); err == nil {
			t.Fatal("second NewServer on one registry succeeded, want a registration error")
		}
	})
}

func TestCorrelationID(t *testing.T) {
	s := newTestServer(t, nil, nil)
	tests := []struct {
		name, sent string
		echoed     bool
	}{
		{"Sane", "req-42_a.b", true},
		{"Max128", strings.Repeat("a", 128), true},
		{"TooLong", strings.Repeat("a", 129), false},
		{"Space", "a b", false},
		{"Unicode", "zoë", false},
		{"Absent", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := s.do(t, request{method: http.MethodGet, path: "/healthz", header: map[string]string{headerCorrelationID: tt.sent}})
			got := rec.Header().Get(headerCorrelationID)
			if tt.echoed {
				if got != tt.sent {
					t.Fatalf("X-Correlation-ID = %q, want %q", got, tt.sent)
				}
				return
			}
			if _, ok := canonicalUUID(got); !ok {
				t.Fatalf("X-Correlation-ID = %q, want a new UUID", got)
			}
		})
	}
	t.Run("OnProblems", func(t *testing.T) {
		rec := s.do(t, request{method: http.MethodGet, path: "/nowhere", header: map[string]string{headerCorrelationID: "trace-1"}})
		readProblem(t, rec, http.StatusNotFound, kindNotFound)
		if got := rec.Header().Get(headerCorrelationID); got != "trace-1" {
			t.Fatalf("X-Correlation-ID = %q, want trace-1", got)
		}
	})
}

// A command's metadata carries a new causation id for its events; a read
// appends none and is spared making one.
func TestRequestMetadataReachesHandlers(t *testing.T) {
	s := newTestServer(t, nil, nil)
	var got app.Metadata
	handler := func(c echo.Context) error {
		got = app.MetadataFrom(c.Request().Context())
		return nil
	}
	s.echo.GET("/test/metadata", handler)
	s.echo.POST("/test/metadata", handler)
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		got = app.Metadata{}
		s.do(t, request{method: method, path: "/test/metadata", header: map[string]string{headerCorrelationID: "corr-1"}})
		if got.CorrelationID != "corr-1" || got.Actor != anonymousActor {
			t.Fatalf("%s: metadata = %+v, want correlation corr-1 and actor %q", method, got, anonymousActor)
		}
		_, isUUID := canonicalUUID(got.CausationID)
		if want := method != http.MethodGet; isUUID != want {
			t.Fatalf("%s: causation id = %q, want a UUID: %t", method, got.CausationID, want)
		}
	}
}

func TestPanicBecomesInternalProblem(t *testing.T) {
	// The zero Application has no handlers: reaching one panics.
	s := newTestServer(t, nil, nil)
	rec := s.do(t, request{method: http.MethodPost, path: "/api/v1/orders/0190b5f2-7c1e-7a3b-9d4e-5f6a7b8c9d0e/pay"})
	p := readProblem(t, rec, http.StatusInternalServerError, kindInternal)
	if p.Detail != "" || strings.Contains(rec.Body.String(), "nil pointer") {
		t.Fatalf("internal problem leaks detail: %s", rec.Body)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, "panic") {
		t.Fatalf("panic not logged at error level; logs:\n%s", logs)
	}
}

func TestHealth(t *testing.T) {
	t.Run("Healthz", func(t *testing.T) {
		rec := newTestServer(t, nil, nil).do(t, request{method: http.MethodGet, path: "/healthz"})
		if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
			t.Fatalf("healthz = %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("Ready", func(t *testing.T) {
		rec := newTestServer(t, nil, nil).do(t, request{method: http.MethodGet, path: "/readyz"})
		if rec.Code != http.StatusOK {
			t.Fatalf("readyz = %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("NotReady", func(t *testing.T) {
		s := newTestServer(t, nil, func(context.Context) error { return io.ErrUnexpectedEOF })
		rec := s.do(t, request{method: http.MethodGet, path: "/readyz"})
		p := readProblem(t, rec, http.StatusServiceUnavailable, kindUnavailable)
		if strings.Contains(p.Detail, "EOF") {
			t.Fatalf("readiness problem leaks the cause: %q", p.Detail)
		}
		if !strings.Contains(s.logs.String(), "unexpected EOF") {
			t.Fatalf("readiness cause not logged; logs:\n%s", s.logs)
		}
	})
}

func TestMetrics(t *testing.T) {
	s := newTestServer(t, nil, nil)
	s.do(t, request{method: http.MethodGet, path: "/api/v1/products/not-a-uuid"})
	s.do(t, request{method: http.MethodGet, path: "/no/such/route/8f1c"})
	rec := s.do(t, request{method: http.MethodGet, path: "/metrics"})
	if rec.Code != http.StatusOK {
		t.Fatalf("metrics = %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`orderflow_http_requests_total{code="400",method="GET",route="/api/v1/products/:id"} 1`,
		`orderflow_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`orderflow_http_request_duration_seconds_count{method="GET",route="/api/v1/products/:id"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "not-a-uuid") || strings.Contains(body, "8f1c") {
		t.Error("metrics carry a raw URL")
	}
}

func TestRequestLogAtDebug(t *testing.T) {
	s := newTestServer(t, nil, nil)
	s.do(t, request{method: http.MethodGet, path: "/healthz", header: map[string]string{headerCorrelationID: "log-me"}})
	logs := s.logs.String()
	for _, want := range []string{`"msg":"request"`, `"route":"/healthz"`, `"status":200`, `"correlationId":"log-me"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("request log lacks %s; logs:\n%s", want, logs)
		}
	}
}

// Compile-time check that the test stubs below satisfy the ports.
var (
	_ app.Store     = failingStore{}
	_ app.ReadModel = cannedReads{}
)

// failingStore answers every command as if PostgreSQL were down.
type failingStore struct{}

func (failingStore) Update(context.Context, func(context.Context, app.Tx) error) error {
	return app.ErrUnavailable
}

// cannedReads answers queries with fixed views for the ids it knows and
// NotFoundError otherwise: enough to check how responses are written. The
// embedded nil ReadModel stands for the methods it does not need; calling
// one panics, which a test sees as a 500.
type cannedReads struct {
	app.ReadModel
	product  app.Product
	page     app.ProductPage
	customer app.Customer
	order    app.Order
	orders   app.CustomerOrders
}

func (r cannedReads) Product(_ context.Context, id string) (app.Product, error) {
	if id != r.product.ID {
		return app.Product{}, &app.NotFoundError{Kind: "product", ID: id}
	}
	return r.product, nil
}

func (r cannedReads) ProductBySKU(_ context.Context, sku string) (app.Product, error) {
	if !strings.EqualFold(sku, r.product.SKU) {
		return app.Product{}, &app.NotFoundError{Kind: "product", ID: sku}
	}
	return r.product, nil
}

func (r cannedReads) ListProducts(_ context.Context, q app.ListProducts) (app.ProductPage, error) {
	page := r.page
	page.Page, page.PageSize = q.Page, q.PageSize
	if q.Search != "" {
		page.Items = nil
	}
	return page, nil
}

func (r cannedReads) ProductStock(_ context.Context, id string) (app.StockLevel, error) {
	if id != r.product.ID || r.product.StockLevel == nil {
		return app.StockLevel{}, &app.NotFoundError{Kind: "product", ID: id}
	}
	return app.StockLevel{Level: *r.product.StockLevel, Version: r.product.Version}, nil
}

func (r cannedReads) CatalogVersion(context.Context) (int64, error) { return 1, nil }

func (r cannedReads) CustomerOrdersVersion(_ context.Context, customerID string) (int64, error) {
	if customerID != r.customer.ID {
		return 0, &app.NotFoundError{Kind: "customer", ID: customerID}
	}
	return 1, nil
}

func (r cannedReads) Customer(_ context.Context, id string) (app.Customer, error) {
	if id != r.customer.ID {
		return app.Customer{}, &app.NotFoundError{Kind: "customer", ID: id}
	}
	return r.customer, nil
}

func (r cannedReads) Order(_ context.Context, id string) (app.Order, error) {
	if id != r.order.ID {
		return app.Order{}, &app.NotFoundError{Kind: "order", ID: id}
	}
	return r.order, nil
}

func (r cannedReads) CustomerOrders(_ context.Context, customerID string, _ int) (app.CustomerOrders, error) {
	if customerID != r.customer.ID {
		return app.CustomerOrders{}, &app.NotFoundError{Kind: "customer", ID: customerID}
	}
	return r.orders, nil
}

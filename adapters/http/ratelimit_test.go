package http

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/adapters/jwt"
	"github.com/orderflow/orderflow/app"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fromAddr sends r from the peer address addr.
func (s testServer) fromAddr(t *testing.T, addr string, r request) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	req.RemoteAddr = addr
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

func TestRateLimitMutationsPerAddress(t *testing.T) {
	s := newTestServer(t, nil, nil)
	clock := newFakeClock()
	s.limiter = newRateLimiter(1, 3, clock.Now)
	// An empty product reaches its handler and fails validation: a 400
	// means the limiter let the request through.
	create := request{method: http.MethodPost, path: productsPath, body: `{}`}
	const a, b = "192.0.2.1:1000", "192.0.2.2:1000"

	for i := range 3 {
		if rec := s.fromAddr(t, a, create); rec.Code != http.StatusBadRequest {
			t.Fatalf("mutation %d within the burst: status %d, body %s", i+1, rec.Code, rec.Body)
		}
	}
	rec := s.fromAddr(t, a, create)
	readProblem(t, rec, http.StatusTooManyRequests, kindRateLimited)
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	t.Run("AnotherPortOfTheSameHost", func(t *testing.T) {
		readProblem(t, s.fromAddr(t, "192.0.2.1:2000", create), http.StatusTooManyRequests, kindRateLimited)
	})
	t.Run("ReadsAreNotLimited", func(t *testing.T) {
		for range 10 {
			if rec := s.fromAddr(t, a, request{method: http.MethodGet, path: "/healthz"}); rec.Code != http.StatusOK {
				t.Fatalf("GET status %d", rec.Code)
			}
		}
	})
	t.Run("OtherAddressesHaveTheirOwnBucket", func(t *testing.T) {
		if rec := s.fromAddr(t, b, create); rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d, body %s", rec.Code, rec.Body)
		}
	})
	t.Run("RefusedRequestsTakeNoToken", func(t *testing.T) {
		for range 5 {
			readProblem(t, s.fromAddr(t, a, create), http.StatusTooManyRequests, kindRateLimited)
		}
		clock.Advance(time.Second)
		if rec := s.fromAddr(t, a, create); rec.Code != http.StatusBadRequest {
			t.Fatalf("a second later: status %d, body %s", rec.Code, rec.Body)
		}
		readProblem(t, s.fromAddr(t, a, create), http.StatusTooManyRequests, kindRateLimited)
	})
}

func TestRateLimitRetryAfterRoundsUp(t *testing.T) {
	s := newTestServer(t, nil, nil)
	s.limiter = newRateLimiter(0.4, 1, newFakeClock().Now) // a token every 2.5 s
	create := request{method: http.MethodPost, path: productsPath, body: `{}`}
	s.fromAddr(t, "192.0.2.1:1", create)
	rec := s.fromAddr(t, "192.0.2.1:1", create)
	readProblem(t, rec, http.StatusTooManyRequests, kindRateLimited)
	if got := rec.Header().Get("Retry-After"); got != "3" {
		t.Errorf("Retry-After = %q, want 3", got)
	}
}

// An authenticated client is its token's subject, wherever it connects from.
func TestRateLimitKeysOnSubject(t *testing.T) {
	s := newTestServer(t, nil, nil)
	s.limiter = newRateLimiter(1, 1, newFakeClock().Now)
	passed := 0
	handler := s.rateLimit(func(echo.Context) error { passed++; return nil })
	call := func(addr, subject string) error {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/orders", nil)
		req.RemoteAddr = addr
		if subject != "" {
			req = req.WithContext(app.WithPrincipal(req.Context(), app.Principal{Subject: subject, Role: app.RoleCustomer}))
		}
		return handler(s.echo.NewContext(req, httptest.NewRecorder()))
	}
	if err := call("192.0.2.1:1", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := call("192.0.2.1:1", "bob"); err != nil {
		t.Fatalf("another subject behind the same address: %v", err)
	}
	if err := call("192.0.2.1:1", ""); err != nil {
		t.Fatalf("anonymous caller from that address: %v", err)
	}
	if err := call("192.0.2.9:1", "alice"); problemFor(err).Status != http.StatusTooManyRequests {
		t.Fatalf("same subject from another address: %v, want rate-limited", err)
	}
	if passed != 3 {
		t.Fatalf("%d requests passed, want 3", passed)
	}
}

// Memory follows the clients active in the last refill period and never
// exceeds maxRateClients.
func TestRateLimiterMemoryIsBounded(t *testing.T) {
	clock := newFakeClock()
	l := newRateLimiter(10, 20, clock.Now) // refills in 2 s
	for i := range 1000 {
		l.allow(fmt.Sprintf("client-%d", i))
	}
	if n := l.size(); n != 1000 {
		t.Fatalf("size = %d, want 1000", n)
	}
	clock.Advance(2 * time.Second)
	l.allow("late")
	if n := l.size(); n != 1 {
		t.Fatalf("after a refill period size = %d, want 1 (idle full buckets forgotten)", n)
	}
	l.maxClients = 500
	for i := range 2 * l.maxClients {
		l.allow(fmt.Sprintf("flood-%d", i))
	}
	if n := l.size(); n != l.maxClients {
		t.Fatalf("size = %d, want the cap %d", n, l.maxClients)
	}
}

func TestRateLimitOffByDefaultInConfig(t *testing.T) {
	s := newTestServer(t, nil, nil)
	if s.limiter != nil {
		t.Fatal("a Config without RateLimit has a limiter; 0 must mean off")
	}
	for range 50 {
		if rec := s.fromAddr(t, "192.0.2.1:1", request{method: http.MethodPost, path: productsPath, body: `{}`}); rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d", rec.Code)
		}
	}
}

// Built as the binary builds it, the limiter runs after authentication and
// so keys on the token's subject: the same admin from two addresses shares
// one bucket, and the rate setting reaches the server.
func TestRateLimitAfterAuthentication(t *testing.T) {
	keys, err := jwt.NewKeys([]byte("rate-limit-test-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s, err := NewServer(Config{App: &app.Application{}, Registerer: reg, Gatherer: reg,
		Ready: func(context.Context) error { return nil }, Tokens: keys, RateLimit: 0.001, RateBurst: 1})
	if err != nil {
		t.Fatal(err)
	}
	token, err := keys.Mint(app.Principal{Subject: "ops", Role: app.RoleAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	send := func(addr string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, productsPath, strings.NewReader(`{}`))
		req.RemoteAddr = addr
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	if rec := send("192.0.2.1:1"); rec.Code != http.StatusBadRequest {
		t.Fatalf("first mutation: status %d, body %s", rec.Code, rec.Body)
	}
	rec := send("192.0.2.2:1")
	readProblem(t, rec, http.StatusTooManyRequests, kindRateLimited)
	if rec.Header().Get("Retry-After") == "" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v", rec.Header())
	}
}

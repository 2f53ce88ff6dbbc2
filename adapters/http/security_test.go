package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/wire"
)

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	s := newTestServer(t, nil, nil)
	tests := []struct {
		name string
		req  request
		code int
	}{
		{"health", request{method: http.MethodGet, path: "/healthz"}, http.StatusOK},
		{"openapi", request{method: http.MethodGet, path: "/openapi.yaml"}, http.StatusOK},
		{"validation problem", request{method: http.MethodPost, path: productsPath, body: `{}`}, http.StatusBadRequest},
		{"malformed JSON", request{method: http.MethodPost, path: productsPath, body: `{`}, http.StatusBadRequest},
		{"unknown path", request{method: http.MethodGet, path: "/nothing/here"}, http.StatusNotFound},
		{"unknown method", request{method: http.MethodDelete, path: productsPath}, http.StatusMethodNotAllowed},
		{"internal", request{method: http.MethodPost, path: "/api/v1/orders/" + someID + "/pay"}, http.StatusInternalServerError},
	}
	want := map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := s.do(t, tt.req)
			if rec.Code != tt.code {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.code, rec.Body)
			}
			for k, v := range want {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if got := rec.Header().Get("Server"); got != "" {
				t.Errorf("Server = %q, want no banner", got)
			}
			if rec.Code >= 400 && rec.Header().Get("Content-Type") != problemContentType {
				t.Errorf("Content-Type = %q, want a problem", rec.Header().Get("Content-Type"))
			}
		})
	}
}

// The body limit holds over a real connection whatever the framing: a
// declared length, chunks that never say how long they are, and a route
// that never reads its body.
func TestBodyLimitOverTheWire(t *testing.T) {
	s := newTestServer(t, nil, nil)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	tenMB := strings.Repeat(" ", 10<<20)
	atLimit := `{"sku":"` + strings.Repeat("x", int(DefaultBodyLimit)-len(`{"sku":""}`)) + `"}`
	tests := []struct {
		name, path, body string
		chunked          bool
		status           int
	}{
		{"10 MB with length", productsPath, tenMB, false, http.StatusRequestEntityTooLarge},
		{"10 MB chunked", productsPath, tenMB, true, http.StatusRequestEntityTooLarge},
		{"one byte over, chunked", productsPath, atLimit + " ", true, http.StatusRequestEntityTooLarge},
		{"at the limit, chunked", productsPath, atLimit, true, http.StatusBadRequest},
		{"10 MB to a route that reads no body", "/api/v1/orders/" + someID + "/pay", tenMB, false, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length: Transfer-Encoding: chunked
			}
			req, err := http.NewRequest(http.MethodPost, ts.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			res, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if tt.chunked != (req.ContentLength <= 0) {
				t.Fatalf("request ContentLength %d; chunked %v", req.ContentLength, tt.chunked)
			}
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status || res.Header.Get("Content-Type") != problemContentType {
				t.Fatalf("status %d %s, want %d problem; body %.200s", res.StatusCode, res.Header.Get("Content-Type"), tt.status, b)
			}
		})
	}
}

// leakyStore fails the way a database driver does, with SQL in the message.
type leakyStore struct{}

const leakedSQL = `INSERT INTO events (stream_id) VALUES ($1): ERROR: relation "events" does not exist (SQLSTATE 42P01)`

func (leakyStore) Update(context.Context, func(context.Context, app.Tx) error) error {
	return fmt.Errorf("append: %w", errors.New(leakedSQL))
}

func TestInternalErrorsStayInside(t *testing.T) {
	application, err := wire.New(leakyStore{}, cannedReads{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, application, nil)
	rec := s.do(t, request{method: http.MethodPost, path: "/api/v1/customers", body: `{"email":"a@example.com","name":"Ada"}`})
	p := readProblem(t, rec, http.StatusInternalServerError, kindInternal)
	if p.Detail != "" {
		t.Errorf("detail = %q, want none", p.Detail)
	}
	for _, leak := range []string{"SQLSTATE", "INSERT", "events", "append", "goroutine"} {
		if strings.Contains(rec.Body.String(), leak) {
			t.Errorf("response leaks %q: %s", leak, rec.Body)
		}
	}
	if !strings.Contains(s.logs.String(), "SQLSTATE") {
		t.Errorf("the failure is not logged for operators; logs:\n%s", s.logs)
	}
}

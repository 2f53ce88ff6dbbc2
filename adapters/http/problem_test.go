package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/domain"
)

func TestProblemFor(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("place order: after 5 attempts: %w", err) }
	tests := []struct {
		name   string
		err    error
		status int
		kind   problemKind
		detail string // a substring the detail must hold; "-" for no detail at all
	}{
		{"Validation", wrap(&domain.ValidationError{Fields: []domain.FieldError{{Field: "sku", Message: "x"}}}), 400, kindValidation, "1 field"},
		{"Malformed", &requestError{kindMalformedJSON, "bad"}, 400, kindMalformedJSON, "bad"},
		{"NotFoundTyped", wrap(&app.NotFoundError{Kind: "product", ID: "p1"}), 404, kindNotFound, "product p1 not found"},
		{"NotFound", wrap(app.ErrNotFound), 404, kindNotFound, "does not exist"},
		{"DuplicateSKU", wrap(app.ErrDuplicateSKU), 409, kindDuplicateSKU, "SKU"},
		{"DuplicateEmail", wrap(app.ErrDuplicateEmail), 409, kindDuplicateEmail, "e-mail"},
		{"InsufficientStockTyped", wrap(&domain.InsufficientStockError{ProductID: "p1", Requested: 5, Available: 2}), 409, kindInsufficientStock, "5 requested, 2 available"},
		{"InsufficientStock", wrap(domain.ErrInsufficientStock), 409, kindInsufficientStock, "stock"},
		{"IllegalTransitionTyped", wrap(&domain.IllegalTransitionError{From: domain.OrderShippedStatus, Action: "cancel"}), 409, kindIllegalTransition, "Cannot cancel an order that is shipped"},
		{"IllegalTransition", wrap(domain.ErrIllegalTransition), 409, kindIllegalTransition, "transition"},
		{"IdempotencyInFlight", wrap(app.ErrIdempotencyInFlight), 409, kindIdempotencyInFlight, "still running"},
		{"IdempotencyKeyReused", wrap(app.ErrIdempotencyKeyReused), 422, kindIdempotencyKeyReused, "different request"},
		{"Conflict", wrap(app.ErrConflict), 409, kindConflict, "retry"},
		{"Unavailable", wrap(app.ErrUnavailable), 503, kindUnavailable, "retry later"},
		{"Deadline", wrap(context.DeadlineExceeded), 503, kindUnavailable, "retry later"},
		{"MaxBytes", wrap(&http.MaxBytesError{Limit: 1}), 413, kindPayloadTooLarge, "too large"},
		{"EchoNotFound", echo.ErrNotFound, 404, kindNotFound, "No resource"},
		{"EchoMethodNotAllowed", echo.ErrMethodNotAllowed, 405, kindMethodNotAllowed, "Allow"},
		{"EchoTooLarge", echo.ErrStatusRequestEntityTooLarge, 413, kindPayloadTooLarge, "too large"},
		{"EchoUnsupported", echo.ErrUnsupportedMediaType, 415, kindUnsupportedMediaType, "application/json"},
		{"EchoUnauthorized", echo.ErrUnauthorized, 401, kindUnauthorized, "-"},
		{"EchoForbidden", echo.ErrForbidden, 403, kindForbidden, "-"},
		{"EchoRateLimited", echo.ErrTooManyRequests, 429, kindRateLimited, "-"},
		{"EchoTeapot", echo.NewHTTPError(http.StatusTeapot), 500, kindInternal, "-"},
		{"Unknown", errors.New("pq: relation \"products\" does not exist"), 500, kindInternal, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, nil, nil)
			rec := httptest.NewRecorder()
			c := s.echo.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)
			s.handleError(tt.err, c)
			p := readProblem(t, rec, tt.status, tt.kind)
			if tt.detail == "-" {
				if p.Detail != "" {
					t.Errorf("detail = %q, want none", p.Detail)
				}
			} else if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to hold %q", p.Detail, tt.detail)
			}
			if strings.Contains(p.Detail, "after 5 attempts") {
				t.Errorf("detail %q leaks the wrapping chain", p.Detail)
			}
			logged := strings.Contains(s.logs.String(), "request failed")
			if wantLog := tt.status >= 500; logged != wantLog {
				t.Errorf("logged = %v, want %v; logs:\n%s", logged, wantLog, s.logs)
			}
		})
	}
}

func TestValidationProblemListsFields(t *testing.T) {
	p := problemFor(&domain.ValidationError{Fields: []domain.FieldError{
		{Field: "sku", Message: "must be 1 to 64 characters"},
		{Field: "priceCents", Message: "must be an integer"},
	}})
	body, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `"errors":[{"field":"sku","message":"must be 1 to 64 characters"},{"field":"priceCents","message":"must be an integer"}]`
	if !strings.Contains(string(body), want) {
		t.Fatalf("problem = %s, want it to hold %s", body, want)
	}
}

// Every kind has its own status and title; only internal falls to 500.
func TestProblemKindsAreDistinct(t *testing.T) {
	kinds := []problemKind{
		kindValidation, kindMalformedJSON, kindUnsupportedMediaType, kindPayloadTooLarge,
		kindNotFound, kindMethodNotAllowed, kindDuplicateSKU, kindDuplicateEmail,
		kindInsufficientStock, kindIllegalTransition, kindIdempotencyInFlight,
		kindIdempotencyKeyReused, kindConflict, kindUnauthorized, kindForbidden,
		kindRateLimited, kindUnavailable,
	}
	titles := map[string]problemKind{}
	for _, k := range kinds {
		status, title := k.status()
		if status == http.StatusInternalServerError {
			t.Errorf("kind %s answers 500", k)
		}
		if other, dup := titles[title]; dup {
			t.Errorf("kinds %s and %s share the title %q", k, other, title)
		}
		titles[title] = k
	}
}

func TestRoutingProblems(t *testing.T) {
	s := newTestServer(t, nil, nil)
	t.Run("NotFound", func(t *testing.T) {
		readProblem(t, s.do(t, request{method: http.MethodGet, path: "/api/v1/nothing"}), http.StatusNotFound, kindNotFound)
	})
	t.Run("MethodNotAllowed", func(t *testing.T) {
		rec := s.do(t, request{method: http.MethodDelete, path: "/api/v1/products"})
		readProblem(t, rec, http.StatusMethodNotAllowed, kindMethodNotAllowed)
		if allow := rec.Header().Get("Allow"); !strings.Contains(allow, http.MethodPost) || !strings.Contains(allow, http.MethodGet) {
			t.Fatalf("Allow = %q, want GET and POST", allow)
		}
	})
}

package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/domain"
)

// problemContentType is RFC 9457's media type for problem details.
const problemContentType = "application/problem+json"

// problemTypeBase prefixes every problem type; the last path segment is the kind.
const problemTypeBase = "https://orderflow.dev/problems/"

// problemKind names a kind of failure a client can act on (docs/guarantees.md,
// "Problems").
type problemKind string

const (
	kindValidation           problemKind = "validation"
	kindMalformedJSON        problemKind = "malformed-json"
	kindUnsupportedMediaType problemKind = "unsupported-media-type"
	kindPayloadTooLarge      problemKind = "payload-too-large"
	kindNotFound             problemKind = "not-found"
	kindMethodNotAllowed     problemKind = "method-not-allowed"
	kindDuplicateSKU         problemKind = "duplicate-sku"
	kindDuplicateEmail       problemKind = "duplicate-email"
	kindInsufficientStock    problemKind = "insufficient-stock"
	kindIllegalTransition    problemKind = "illegal-transition"
	kindIdempotencyInFlight  problemKind = "idempotency-in-flight"
	kindIdempotencyKeyReused problemKind = "idempotency-key-reused"
	kindConflict             problemKind = "conflict"
	kindUnauthorized         problemKind = "unauthorized"
	kindForbidden            problemKind = "forbidden"
	kindRateLimited          problemKind = "rate-limited"
	kindUnavailable          problemKind = "unavailable"
	kindInternal             problemKind = "internal"
)

// status and title of each kind; an unknown kind is a bug and answers 500.
func (k problemKind) status() (int, string) {
	switch k {
	case kindValidation:
		return http.StatusBadRequest, "Request failed validation"
	case kindMalformedJSON:
		return http.StatusBadRequest, "Malformed JSON"
	case kindUnsupportedMediaType:
		return http.StatusUnsupportedMediaType, "Unsupported media type"
	case kindPayloadTooLarge:
		return http.StatusRequestEntityTooLarge, "Payload too large"
	case kindNotFound:
		return http.StatusNotFound, "Not found"
	case kindMethodNotAllowed:
		return http.StatusMethodNotAllowed, "Method not allowed"
	case kindDuplicateSKU:
		return http.StatusConflict, "Duplicate SKU"
	case kindDuplicateEmail:
		return http.StatusConflict, "Duplicate e-mail"
	case kindInsufficientStock:
		return http.StatusConflict, "Insufficient stock"
	case kindIllegalTransition:
		return http.StatusConflict, "Illegal transition"
	case kindIdempotencyInFlight:
		return http.StatusConflict, "Idempotent request in flight"
	case kindIdempotencyKeyReused:
		return http.StatusUnprocessableEntity, "Idempotency key reused"
	case kindConflict:
		return http.StatusConflict, "Concurrent modification"
	case kindUnauthorized:
		return http.StatusUnauthorized, "Unauthorized"
	case kindForbidden:
		return http.StatusForbidden, "Forbidden"
	case kindRateLimited:
		return http.StatusTooManyRequests, "Too many requests"
	case kindUnavailable:
		return http.StatusServiceUnavailable, "Service unavailable"
	default:
		return http.StatusInternalServerError, "Internal error"
	}
}

// problem is an RFC 9457 problem details object.
type problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail,omitempty"`
	Errors []domain.FieldError `json:"errors,omitempty"`
}

func newProblem(kind problemKind, detail string) problem {
	status, title := kind.status()
	return problem{Type: problemTypeBase + string(kind), Title: title, Status: status, Detail: detail}
}

// requestError is a problem the adapter finds in a request before any use
// case runs: wrong media type, oversized or malformed body.
type requestError struct {
	kind   problemKind
	detail string
}

func (e *requestError) Error() string { return string(e.kind) + ": " + e.detail }

// problemFor is the one table from errors to problems; the first match wins.
// Details come from typed errors meant for clients, never from the wrapping
// chain, which may name internals.
func problemFor(err error) problem {
	var (
		reqErr     *requestError
		invalid    *domain.ValidationError
		notFound   *app.NotFoundError
		noStock    *domain.InsufficientStockError
		transition *domain.IllegalTransitionError
		tooLarge   *http.MaxBytesError
		echoErr    *echo.HTTPError
	)
	switch {
	case errors.As(err, &reqErr):
		return newProblem(reqErr.kind, reqErr.detail)
	case errors.As(err, &invalid):
		p := newProblem(kindValidation, fmt.Sprintf("%d field(s) failed validation; see errors.", len(invalid.Fields)))
		p.Errors = invalid.Fields
		return p
	case errors.As(err, &notFound):
		return newProblem(kindNotFound, notFound.Error()+".")
	case errors.Is(err, app.ErrNotFound):
		return newProblem(kindNotFound, "The resource does not exist.")
	case errors.Is(err, app.ErrForbidden):
		return newProblem(kindForbidden, "This token may not act on this resource: a customer acts only for itself.")
	case errors.Is(err, app.ErrDuplicateSKU):
		return newProblem(kindDuplicateSKU, "Another product already has this SKU (compared case-insensitively).")
	case errors.Is(err, app.ErrDuplicateEmail):
		return newProblem(kindDuplicateEmail, "Another customer already has this e-mail address (compared case-insensitively).")
	case errors.As(err, &noStock):
		return newProblem(kindInsufficientStock, noStock.Error()+".")
	case errors.Is(err, domain.ErrInsufficientStock):
		return newProblem(kindInsufficientStock, "Not enough stock to cover the order.")
	case errors.As(err, &transition):
		return newProblem(kindIllegalTransition, "Cannot "+transition.Action+" an order that is "+string(transition.From)+".")
	case errors.Is(err, domain.ErrIllegalTransition):
		return newProblem(kindIllegalTransition, "The order's status does not allow this transition.")
	case errors.Is(err, app.ErrIdempotencyInFlight):
		return newProblem(kindIdempotencyInFlight, "A request with this Idempotency-Key is still running; retry later.")
	case errors.Is(err, app.ErrIdempotencyKeyReused):
		return newProblem(kindIdempotencyKeyReused, "This Idempotency-Key was used with a different request.")
	case errors.Is(err, app.ErrConflict):
		return newProblem(kindConflict, "Concurrent requests changed the resource; retry.")
	case errors.Is(err, app.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return newProblem(kindUnavailable, "A dependency is unavailable; retry later.")
	case errors.As(err, &tooLarge):
		return newProblem(kindPayloadTooLarge, "The request body is too large.")
	case errors.As(err, &echoErr):
		return problemForStatus(echoErr.Code)
	default:
		return newProblem(kindInternal, "")
	}
}

// problemForStatus covers Echo's own errors: routing, and the status-only
// errors its middleware returns.
func problemForStatus(status int) problem {
	switch status {
	case http.StatusNotFound:
		return newProblem(kindNotFound, "No resource at this path.")
	case http.StatusMethodNotAllowed:
		return newProblem(kindMethodNotAllowed, "This resource does not support the method; see the Allow header.")
	case http.StatusRequestEntityTooLarge:
		return newProblem(kindPayloadTooLarge, "The request body is too large.")
	case http.StatusUnsupportedMediaType:
		return newProblem(kindUnsupportedMediaType, "Send the body as application/json.")
	case http.StatusUnauthorized:
		return newProblem(kindUnauthorized, "")
	case http.StatusForbidden:
		return newProblem(kindForbidden, "")
	case http.StatusTooManyRequests:
		return newProblem(kindRateLimited, "")
	case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return newProblem(kindUnavailable, "")
	default:
		return newProblem(kindInternal, "")
	}
}

// handleError is Echo's HTTPErrorHandler: every error, the handlers' and
// Echo's own, leaves as a problem. Only server-side failures are logged;
// client mistakes are the client's to read in the response.
func (s *Server) handleError(err error, c echo.Context) {
	p := problemFor(err)
	if p.Status >= http.StatusInternalServerError {
		s.logFailure(c, p, err)
	}
	if c.Response().Committed {
		return
	}
	body, mErr := json.Marshal(p)
	if mErr != nil {
		// problem holds only strings and ints: this cannot happen, but an
		// answer is still owed.
		s.logger.ErrorContext(c.Request().Context(), "encode problem", slog.Any("err", mErr))
		body = []byte(`{"type":"` + problemTypeBase + `internal","title":"Internal error","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	if wErr := c.Blob(p.Status, problemContentType, body); wErr != nil {
		s.logger.DebugContext(c.Request().Context(), "write problem", slog.Any("err", wErr))
	}
}

// logFailure records a 5xx: at error level when it is a bug or an unknown
// failure, at warn when a dependency is down, which operators see elsewhere.
func (s *Server) logFailure(c echo.Context, p problem, err error) {
	ctx := c.Request().Context()
	level := slog.LevelError
	if p.Status == http.StatusServiceUnavailable {
		level = slog.LevelWarn
	}
	s.logger.LogAttrs(ctx, level, "request failed",
		slog.String("method", c.Request().Method),
		slog.String("route", s.routeLabel(c)),
		slog.Int("status", p.Status),
		slog.String("correlationId", app.MetadataFrom(ctx).CorrelationID),
		slog.Any("err", err),
	)
}

package http

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/app"
)

// headerCorrelationID carries a request's correlation id in and out; it ends
// up in the metadata of every event the request appends.
const headerCorrelationID = "X-Correlation-ID"

// maxCorrelationIDLength bounds a client's correlation id: it is stored with
// every event and written to logs.
const maxCorrelationIDLength = 128

// anonymousActor is the actor of a request without a token, or of every
// request when authentication is off.
const anonymousActor = "anonymous"

// withRequestMetadata gives the request's context the metadata its commands
// stamp on events: the client's correlation id when it is a sane token, else
// a new one; a new request id as causation id (commands only); and the
// actor. The response echoes the correlation id, errors included, so a
// client can quote it.
//
// Echo's middleware.RequestID does the header half of this but echoes
// whatever id the client sends, of any length and any characters; the
// TooLong, Space and Unicode cases of TestCorrelationID fail with it.
func (s *Server) withRequestMetadata(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		correlationID := req.Header.Get(headerCorrelationID)
		if !isCorrelationID(correlationID) {
			correlationID = uuid.NewString()
		}
		c.Response().Header().Set(headerCorrelationID, correlationID)
		md := app.Metadata{CorrelationID: correlationID, Actor: actorOf(c)}
		// Only events carry a causation id, and only commands append
		// events: a read, the bulk of the traffic, does without.
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			md.CausationID = uuid.NewString()
		}
		c.SetRequest(req.WithContext(app.WithMetadata(req.Context(), md)))
		return next(c)
	}
}

// isCorrelationID accepts 1 to 128 characters of A-Z a-z 0-9 . _ -, which
// are safe in headers, logs and JSON alike.
func isCorrelationID(s string) bool {
	if s == "" || len(s) > maxCorrelationIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

// actorOf names who is making the request before authentication: anyone.
// authenticate replaces it with the token's role and subject, which also
// scope idempotency keys.
func actorOf(echo.Context) string { return anonymousActor }

// actor returns the actor withRequestMetadata put in the request's context.
func actor(c echo.Context) string { return app.MetadataFrom(c.Request().Context()).Actor }

package http

import (
	"errors"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// securityHeaders runs before routing, so every response carries these,
// problems and 404s included. The API serves data (JSON, YAML, Prometheus
// text): a browser pointed at it may load, run and frame nothing, and must
// not guess another content type. The one page, the operations console,
// sets its own narrower policy (console.go). net/http and Echo
// send no Server header, so there is no banner to remove. X-XSS-Protection is
// left out (empty): browsers retired that filter, and there is no page to
// protect. HSTS is off (0): TLS ends in front of the API, not in it.
//
// The values are built once and the same slices go on every response
// (Echo's Secure middleware set them one by one, an allocation each, on
// every request); nothing modifies a header value in place, and a Set or
// Add on one response replaces or regrows its own entry.
func securityHeaders() echo.MiddlewareFunc {
	headers := []struct {
		name  string
		value []string
	}{
		{echo.HeaderXContentTypeOptions, []string{"nosniff"}},
		{echo.HeaderXFrameOptions, []string{"DENY"}},
		{echo.HeaderContentSecurityPolicy, []string{"default-src 'none'; frame-ancestors 'none'"}},
		{echo.HeaderReferrerPolicy, []string{"no-referrer"}},
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			for _, sh := range headers {
				h[sh.name] = sh.value
			}
			return next(c)
		}
	}
}

// limitBody refuses a body declared larger than the limit on any route, even
// one that never reads its body (the order transitions), and cuts a body of
// unknown length (chunked) at the limit for whoever reads it. Echo's bare 413
// is answered with the limit in the problem's detail, as readJSONObject does.
func (s *Server) limitBody() echo.MiddlewareFunc {
	limit := middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
		Limit: strconv.FormatInt(s.bodyLimit, 10) + "B",
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		limited := limit(next)
		return func(c echo.Context) error {
			err := limited(c)
			if errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
				return s.tooLarge()
			}
			return err
		}
	}
}

package http

import (
	"github.com/labstack/echo/v4"
)

// setSecurityHeaders runs before routing, so every response carries these,
// problems and 404s included. The API serves only data (JSON, YAML,
// Prometheus text), never a page: a browser pointed at it may load, run and
// frame nothing, and must not guess another content type. net/http and Echo
// send no Server header, so there is no banner to remove.
func setSecurityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		return next(c)
	}
}

// limitBody refuses a body declared larger than the limit on any route, even
// one that never reads its body (the order transitions). Bodies of unknown
// length (chunked) are cut at the limit by readJSONObject, their only reader.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().ContentLength > s.bodyLimit {
			return s.tooLarge()
		}
		return next(c)
	}
}

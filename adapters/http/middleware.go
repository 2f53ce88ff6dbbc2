package http

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/app"
)

// observe answers a handler's error with its problem, then counts and times
// the request and logs it at debug level. Answering here, rather than leaving
// it to Echo after the chain, lets the metrics see the final status.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		elapsed := time.Since(start)
		req := c.Request()
		method, route, status := methodLabel(req.Method), s.routeLabel(c), c.Response().Status
		s.metrics.observe(method, route, status, elapsed)
		ctx := req.Context()
		if s.logger.Enabled(ctx, slog.LevelDebug) {
			s.logger.LogAttrs(ctx, slog.LevelDebug, "request",
				slog.String("method", method),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Duration("duration", elapsed),
				slog.String("correlationId", app.MetadataFrom(ctx).CorrelationID),
			)
		}
		return nil
	}
}

// recoverPanics turns a handler's panic into an error, answered as a 500
// internal problem and logged with its stack. http.ErrAbortHandler is the
// standard library's way to abort a response and must keep unwinding.
func recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r)
			}
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}()
		return next(c)
	}
}

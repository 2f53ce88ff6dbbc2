package http

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

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
// internal problem and logged with its stack by handleError. The panic value
// is formatted, not wrapped, so a panicking error never passes for a client
// mistake. Echo re-panics http.ErrAbortHandler, the standard library's way
// to abort a response.
func recoverPanics() echo.MiddlewareFunc {
	return middleware.RecoverWithConfig(middleware.RecoverConfig{
		StackSize:           panicStackSize,
		DisableStackAll:     true,
		DisableErrorHandler: true,
		LogErrorFunc: func(_ echo.Context, err error, stack []byte) error {
			return fmt.Errorf("panic: %v\n%s", err, stack)
		},
	})
}

// panicStackSize bounds the stack logged for a panic. 64 KiB keeps a deep
// stack whole, as debug.Stack did before; Echo's default keeps 4 KiB.
const panicStackSize = 64 << 10

package http

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// readinessTimeout bounds the readiness probe, so that a hung dependency
// answers 503 before the prober's own timeout instead of hanging it.
const readinessTimeout = 2 * time.Second

// healthStatus is the body of a passing probe; Degraded names optional
// dependencies that are down while the instance still serves.
type healthStatus struct {
	Status   string   `json:"status"`
	Degraded []string `json:"degraded,omitempty"`
}

// handleHealthz says the process serves HTTP; it checks no dependency, so a
// database outage never gets healthy instances restarted.
func (s *Server) handleHealthz(c echo.Context) error {
	return c.JSON(http.StatusOK, healthStatus{Status: "ok"})
}

// handleReadyz says whether this instance should get traffic: PostgreSQL and
// Redis reachable, as cfg.Ready judges. Which one failed goes to the log,
// not to the anonymous caller.
func (s *Server) handleReadyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readinessTimeout)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		// The problem is unavailable whatever the cause; the cause is kept
		// in the chain for the log.
		return fmt.Errorf("readiness: %w: %w", &requestError{kindUnavailable, "A dependency is not reachable."}, err)
	}
	if s.degraded != nil {
		if down := s.degraded(ctx); len(down) > 0 {
			return c.JSON(http.StatusOK, healthStatus{Status: "degraded", Degraded: down})
		}
	}
	return c.JSON(http.StatusOK, healthStatus{Status: "ok"})
}

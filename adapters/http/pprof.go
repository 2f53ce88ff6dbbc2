package http

import (
	"fmt"
	"runtime/pprof"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/domain"
)

// The profiles of a running API, for an admin to find where its CPU and
// memory go under real load (go tool pprof http://…/debug/pprof/profile
// with the admin token in an Authorization header). runtime/pprof is
// written to directly: net/http/pprof would also register its handlers on
// the process-wide default mux, which this server does not serve.

// maxCPUProfile bounds a CPU profile's length, so a request cannot keep the
// profiler (one per process) busy for long.
const maxCPUProfile = 60 * time.Second

// handleProfile answers one named profile: "profile" samples the CPU for
// ?seconds= (default 10, at most 60); the others (heap, allocs, goroutine,
// mutex, block, threadcreate) are snapshots of runtime/pprof's profiles.
func (s *Server) handleProfile(c echo.Context) error {
	name := c.Param("name")
	w := c.Response()
	if name != "profile" {
		p := pprof.Lookup(name)
		if p == nil {
			return &requestError{kind: kindNotFound, detail: fmt.Sprintf("No profile named %q.", name)}
		}
		w.Header().Set(echo.HeaderContentType, echo.MIMEOctetStream)
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.pb.gz"`)
		return p.WriteTo(w, 0)
	}
	var v domain.ValidationError
	seconds := queryPositiveInt(&v, c.QueryParams(), "seconds", int(maxCPUProfile/time.Second))
	if len(v.Fields) > 0 {
		return &v
	}
	if seconds == 0 {
		seconds = 10
	}
	w.Header().Set(echo.HeaderContentType, echo.MIMEOctetStream)
	w.Header().Set("Content-Disposition", `attachment; filename="profile.pb.gz"`)
	if err := pprof.StartCPUProfile(w); err != nil {
		return &requestError{kind: kindConflict, detail: "A CPU profile is already being taken on this instance; retry when it ends."}
	}
	timer := time.NewTimer(time.Duration(seconds) * time.Second)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-c.Request().Context().Done():
	}
	pprof.StopCPUProfile()
	return nil
}

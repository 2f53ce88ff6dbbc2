package http

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/app"
)

// headerAge is how long ago a near-cache answer was last known current
// (RFC 9111, section 5.1), in whole seconds.
const headerAge = "Age"

// withReadOptions passes a GET's Cache-Control: max-stale=N to the cache:
// the client accepts an answer up to N seconds older than the latest write,
// which the near cache may then give without asking Redis. Any other
// directive, or a max-stale without a valid number, leaves the read strict:
// Cache-Control is advice, so it is never a reason to refuse a request.
func withReadOptions(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Method != http.MethodGet {
			return next(c)
		}
		maxStale, ok := parseMaxStale(req.Header.Values(headerCacheControl))
		if !ok {
			return next(c)
		}
		opts := &app.ReadOptions{MaxStale: maxStale}
		c.SetRequest(req.WithContext(app.WithReadOptions(req.Context(), opts)))
		return next(c)
	}
}

// parseMaxStale finds max-stale=N (N in whole seconds, 1 or more) among
// Cache-Control header values.
func parseMaxStale(values []string) (time.Duration, bool) {
	for _, v := range values {
		for d := range strings.SplitSeq(v, ",") {
			name, arg, ok := strings.Cut(strings.TrimSpace(d), "=")
			if !ok || !strings.EqualFold(name, "max-stale") {
				continue
			}
			n, err := strconv.Atoi(strings.Trim(arg, `"`))
			if err != nil || n < 1 {
				return 0, false
			}
			return time.Duration(n) * time.Second, true
		}
	}
	return 0, false
}

// setAge says how old a near-cache answer is.
func setAge(c echo.Context, h http.Header) {
	if opts := app.ReadOptionsFrom(c.Request().Context()); opts != nil {
		h.Set(headerAge, strconv.Itoa(int(opts.Age/time.Second)))
	}
}

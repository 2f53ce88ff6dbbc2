package http

import (
	"bytes"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
)

// outputCache serves anonymous GETs of a public endpoint from the Redis
// output cache, stored under tag, and stores the 200 answers it builds. A
// request that carries credentials is neither served from nor stored in it:
// its answer may be personal. When Redis is down the handler answers as if
// there were no output cache.
func (s *Server) outputCache(tag, cacheControl string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.Header.Get(echo.HeaderAuthorization) != "" {
				// An answer to a request with credentials may be personal:
				// shared caches must not keep it either.
				c.Response().Before(func() { c.Response().Header().Set(headerCacheControl, "private, no-store") })
				return next(c)
			}
			if s.cache == nil {
				return next(c)
			}
			ctx := req.Context()
			// The query string is not part of the key: public endpoints take
			// no parameters, and a client must not grow the key set at will.
			key := cache.OutputKey(tag, req.Method, c.Path())
			cached, tagVersion, hit, err := s.cache.Output(ctx, key, tag)
			if err != nil {
				return next(c)
			}
			if hit {
				return writeCached(c, cached, app.CacheHit, cacheControl)
			}

			// What is built here is kept for every later reader, so it is
			// built strictly: a max-stale request may be answered from a
			// stale near-cache copy, never fill the shared cache with one.
			if app.ReadOptionsFrom(ctx) != nil {
				c.SetRequest(req.WithContext(app.WithReadOptions(ctx, nil)))
			}
			// Build the answer into a buffer: it is stored whole, and the
			// client's If-None-Match is applied afterwards.
			orig := c.Response()
			buf := &bufferedResponse{header: orig.Header().Clone(), status: http.StatusOK}
			ifNoneMatch := req.Header.Get(headerIfNoneMatch)
			req.Header.Del(headerIfNoneMatch)
			c.SetResponse(echo.NewResponse(buf, c.Echo()))
			err = next(c)
			c.SetResponse(orig)
			req.Header.Set(headerIfNoneMatch, ifNoneMatch)
			if err != nil {
				return err
			}
			resp := cache.Response{
				Status:      buf.status,
				ContentType: buf.header.Get(echo.HeaderContentType),
				ETag:        buf.header.Get(headerETag),
				Body:        buf.body.Bytes(),
			}
			if resp.Status == http.StatusOK {
				if err := s.cache.StoreOutput(ctx, key, tagVersion, resp); err != nil {
					s.logger.Warn("output cache store failed", "key", key.Name, "err", err)
				}
			}
			for name, values := range buf.header {
				orig.Header()[name] = values
			}
			return writeCached(c, resp, app.CacheMiss, cacheControl)
		}
	}
}

// writeCached answers a response held by the output cache.
func writeCached(c echo.Context, resp cache.Response, status app.CacheStatus, cacheControl string) error {
	h := c.Response().Header()
	h.Set(headerXCache, string(status))
	h.Set(headerCacheControl, cacheControl)
	if resp.ETag != "" {
		h.Set(headerETag, resp.ETag)
		if resp.Status == http.StatusOK && etagMatches(c.Request().Header.Get(headerIfNoneMatch), resp.ETag) {
			return c.NoContent(http.StatusNotModified)
		}
	}
	return c.Blob(resp.Status, resp.ContentType, resp.Body)
}

// bufferedResponse collects a handler's answer instead of sending it.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }

package http

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/app"
)

// Response headers of docs/guarantees.md ("API conventions") and openapi.yaml.
const (
	headerETag               = "ETag"
	headerIfNoneMatch        = "If-None-Match"
	headerCacheControl       = "Cache-Control"
	headerXCache             = "X-Cache"
	headerIdempotencyKey     = "Idempotency-Key"
	headerIdempotentReplayed = "Idempotent-Replayed"
)

// reply is a JSON representation and the headers that describe it.
type reply struct {
	status int
	body   any
	// encoded, when set, is the body already in JSON (a cached read model);
	// body is then not encoded again.
	encoded []byte
	// etag is the entity tag; empty means a strong tag hashed from the
	// encoded body, for composite representations that have no version.
	etag string
	// xCache says how a GET was served; empty on other methods.
	xCache   app.CacheStatus
	location string
}

// writeReply encodes r and answers it. A GET whose If-None-Match names the
// representation's ETag is answered 304 with the same validators.
func writeReply(c echo.Context, r reply) error {
	body := r.encoded
	if body == nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return fmt.Errorf("encode response: %w", err)
		}
	}
	etag := r.etag
	if etag == "" {
		etag = bodyETag(body)
	}
	h := c.Response().Header()
	h.Set(headerETag, etag)
	if r.xCache != "" {
		h.Set(headerXCache, string(r.xCache))
		if r.xCache == app.CacheHitNear {
			setAge(c, h)
		}
	}
	if r.location != "" {
		h.Set(echo.HeaderLocation, r.location)
	}
	req := c.Request()
	if req.Method == http.MethodGet && r.status == http.StatusOK && etagMatches(req.Header.Get(headerIfNoneMatch), etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(r.status, echo.MIMEApplicationJSON, body)
}

// versionETag is the entity tag of one aggregate's representation. It is
// weak: the version names the aggregate's state, while the bytes may differ
// (a stock level read live, or null when served from cache).
func versionETag(version int64) string {
	return `W/"` + strconv.FormatInt(version, 10) + `"`
}

// bodyETag is a strong entity tag naming these exact bytes.
func bodyETag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 §13.1.2):
// "*" or any listed tag whose opaque part equals etag's.
func etagMatches(ifNoneMatch, etag string) bool {
	if ifNoneMatch == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for _, tag := range strings.Split(ifNoneMatch, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
			return true
		}
	}
	return false
}

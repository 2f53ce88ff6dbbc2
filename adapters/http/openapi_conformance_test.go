package http_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"

	orderflowhttp "github.com/orderflow/orderflow/adapters/http"
	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/wire"
	"github.com/orderflow/orderflow/internal/testenv"
)

// The OpenAPI document against the answers the API really gives: a full flow
// over real PostgreSQL and Redis, every exchange checked by kin-openapi, as a
// client generated from the document would meet them.

// everyResponseHeader names the headers any answer may carry without its
// response object declaring them: transport headers, and those the
// document's conventions put on every response.
var everyResponseHeader = []string{
	"Content-Type", "Content-Length", "Date",
	"X-Content-Type-Options", "Content-Security-Policy", "Referrer-Policy", "X-Frame-Options",
	"X-Correlation-Id",
}

// conformance is an http.RoundTripper that checks every exchange against
// the document: the request (the flow says which requests it means to be
// invalid), the status, the body against its schema, and the headers: each
// declared one matches its schema and is there when required, and none is
// sent that the response object does not declare. A failing exchange fails
// the test, naming the operation. Tests call it from one goroutine.
type conformance struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	next   http.RoundTripper
	// requestErr is the request validation of the last exchange.
	requestErr error
	// answered records each operation's statuses seen, for the coverage check.
	answered map[string][]int
}

func newConformance(t *testing.T, doc *openapi3.T, next http.RoundTripper) *conformance {
	t.Helper()
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapi router: %v", err)
	}
	return &conformance{t: t, doc: doc, router: router, next: next, answered: map[string][]int{}}
}

func (c *conformance) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	res, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resBody, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(resBody))
	c.check(req, reqBody, res, resBody)
	return res, nil
}

// check validates one exchange.
func (c *conformance) check(req *http.Request, reqBody []byte, res *http.Response, resBody []byte) {
	c.t.Helper()
	ctx := context.Background()
	vreq := req.Clone(ctx)
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, pathParams, err := c.router.FindRoute(vreq)
	if err != nil {
		c.requestErr = err
		c.t.Errorf("%s %s → %d: no operation of the document: %v", req.Method, req.URL.Path, res.StatusCode, err)
		return
	}
	name := fmt.Sprintf("%s %s (%s) → %d", req.Method, route.Path, route.Operation.OperationID, res.StatusCode)
	c.answered[route.Operation.OperationID] = append(c.answered[route.Operation.OperationID], res.StatusCode)

	in := &openapi3filter.RequestValidationInput{
		Request:    vreq,
		PathParams: pathParams,
		Route:      route,
		Options: &openapi3filter.Options{
			MultiError:          true,
			SkipSettingDefaults: true,
			// The document's one scheme is a bearer token: a request meets
			// it when it sends one; whether the token is good is the API's
			// to say (401), not the document's.
			AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
				if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
					return errors.New("no bearer token")
				}
				return nil
			},
		},
	}
	c.requestErr = openapi3filter.ValidateRequest(ctx, in)

	resOpts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	resOpts.WithCustomSchemaErrorFunc(schemaErrorAt)
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Options:                resOpts,
	}
	out.SetBodyBytes(resBody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		c.t.Errorf("%s: %v\nbody: %.300s", name, err, resBody)
	}
	for _, err := range c.checkHeaders(route.Operation, res) {
		c.t.Errorf("%s: %v", name, err)
	}
}

// checkHeaders finds the headers an answer sends that its response object
// does not declare, and checks the declared headers of a 304, which
// ValidateResponse skips.
func (c *conformance) checkHeaders(op *openapi3.Operation, res *http.Response) []error {
	ref := op.Responses.Status(res.StatusCode)
	if ref == nil || ref.Value == nil {
		return nil // ValidateResponse reported the status
	}
	declared := map[string]*openapi3.HeaderRef{}
	for name, h := range ref.Value.Headers {
		declared[http.CanonicalHeaderKey(name)] = h
	}
	var errs []error
	for name := range res.Header {
		if declared[name] == nil && !slices.Contains(everyResponseHeader, name) {
			errs = append(errs, fmt.Errorf("header %s: %q is not declared", name, res.Header.Get(name)))
		}
	}
	if res.StatusCode != http.StatusNotModified {
		return errs
	}
	for name, h := range declared {
		value, ok := res.Header[name]
		switch {
		case !ok && h.Value.Required:
			errs = append(errs, fmt.Errorf("header %s is required and missing", name))
		case ok && h.Value.Schema != nil:
			if err := h.Value.Schema.Value.VisitJSON(value[0], openapi3.SetSchemaErrorMessageCustomizer(schemaErrorAt)); err != nil {
				errs = append(errs, fmt.Errorf("header %s: %w", name, err))
			}
		}
	}
	return errs
}

// schemaErrorAt says what failed where, without kin-openapi's dump of the
// whole schema and value.
func schemaErrorAt(err *openapi3.SchemaError) string {
	return fmt.Sprintf("%s at %q", err.Reason, "/"+strings.Join(err.JSONPointer(), "/"))
}

// conformanceFlow is the API under test, its validating client and the tokens
// the flow uses.
type conformanceFlow struct {
	t   *testing.T
	a   *cachedAPI
	c   *conformance
	doc *openapi3.T
}

// send makes one request the document accepts; it must answer want.
func (f *conformanceFlow) send(want int, method, path, body string, header ...string) response {
	f.t.Helper()
	r := f.a.must(method, path, body, header...)
	if r.status != want {
		f.t.Fatalf("%s %s = %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	if f.c.requestErr != nil {
		f.t.Errorf("%s %s: the document refuses the request: %v", method, path, f.c.requestErr)
	}
	return r
}

// sendInvalid makes one request the document refuses too; it must answer want.
func (f *conformanceFlow) sendInvalid(want int, method, path, body string, header ...string) response {
	f.t.Helper()
	r := f.a.must(method, path, body, header...)
	if r.status != want {
		f.t.Fatalf("%s %s = %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	if f.c.requestErr == nil {
		f.t.Errorf("%s %s: the API answers %d but the document accepts the request", method, path, want)
	}
	return r
}

// loadServedDocument reads the document as a client would, from
// GET /openapi.yaml, and checks it is a valid OpenAPI document.
func loadServedDocument(t *testing.T, a *cachedAPI) *openapi3.T {
	t.Helper()
	r := a.must(http.MethodGet, "/openapi.yaml", "")
	expect(t, r, http.StatusOK)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(r.body)
	if err != nil {
		t.Fatalf("load the served document: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the served document is not valid OpenAPI: %v", err)
	}
	// The document names the default address; the test's APIs listen on
	// others, so operations are found by path alone.
	doc.Servers = nil
	return doc
}

// TestOpenAPIConformance runs every route through its main answers, errors
// and degraded modes included, and validates each exchange against the
// served document. Every documented operation must be exercised.
func TestOpenAPIConformance(t *testing.T) {
	a := newCachedAPI(t, cachedAPIOptions{proxyPostgres: true, proxyRedis: true, redisTimeout: 150 * time.Millisecond, breakerOpenFor: 200 * time.Millisecond})
	doc := loadServedDocument(t, a)
	c := newConformance(t, doc, http.DefaultTransport)
	a.client.Transport = c
	f := &conformanceFlow{t: t, a: a, c: c, doc: doc}

	t.Run("operations", func(t *testing.T) {
		f.send(http.StatusOK, http.MethodGet, "/healthz", "")
		f.send(http.StatusOK, http.MethodGet, "/readyz", "")
		f.send(http.StatusOK, http.MethodGet, "/metrics", "")
		f.send(http.StatusOK, http.MethodGet, "/openapi.yaml", "")
		expiredAdmin := bearer(expiredToken(t, testSecret, app.RoleAdmin, testAdmin))
		f.send(http.StatusUnauthorized, http.MethodGet, "/healthz", "", expiredAdmin...)
	})

	customerA := f.send(http.StatusCreated, http.MethodPost, "/api/v1/customers", `{"email":"conf-a@example.com","name":"Ada"}`, noToken...).json(t)["id"].(string)
	customerB := f.send(http.StatusCreated, http.MethodPost, "/api/v1/customers", `{"email":"conf-b@example.com","name":"Bob"}`, noToken...).json(t)["id"].(string)
	tokenA := bearer(mint(t, a.keys, app.RoleCustomer, customerA, time.Hour))
	tokenB := bearer(mint(t, a.keys, app.RoleCustomer, customerB, time.Hour))
	expired := bearer(expiredToken(t, testSecret, app.RoleCustomer, customerA))

	var product, other string
	t.Run("products", func(t *testing.T) {
		r := f.send(http.StatusCreated, http.MethodPost, "/api/v1/products", `{"sku":"CONF-1","name":"Conformance one","description":"d","priceCents":1250,"currency":"EUR","initialStock":10}`)
		product = r.json(t)["id"].(string)
		other = f.send(http.StatusCreated, http.MethodPost, "/api/v1/products", `{"sku":"CONF-2","name":"Conformance two","priceCents":700,"currency":"EUR","initialStock":5}`).json(t)["id"].(string)
		f.send(http.StatusConflict, http.MethodPost, "/api/v1/products", `{"sku":"conf-1","name":"Again","priceCents":1,"currency":"EUR"}`)
		f.sendInvalid(http.StatusBadRequest, http.MethodPost, "/api/v1/products", `{"sku":"CONF-3","priceCents":-1,"currency":"EUR"}`)
		f.sendInvalid(http.StatusBadRequest, http.MethodPost, "/api/v1/products", `{"sku":`)
		f.sendInvalid(http.StatusUnsupportedMediaType, http.MethodPost, "/api/v1/products", `{"sku":"CONF-3"}`, "Content-Type", "text/plain")
		f.sendInvalid(http.StatusRequestEntityTooLarge, http.MethodPost, "/api/v1/products",
			`{"sku":"CONF-3","name":"`+strings.Repeat("n", 1<<20)+`","priceCents":1,"currency":"EUR"}`)
		f.sendInvalid(http.StatusUnauthorized, http.MethodPost, "/api/v1/products", `{"sku":"CONF-3","name":"x","priceCents":1,"currency":"EUR"}`, noToken...)
		f.send(http.StatusUnauthorized, http.MethodPost, "/api/v1/products", `{"sku":"CONF-3","name":"x","priceCents":1,"currency":"EUR"}`, expired...)
		f.send(http.StatusForbidden, http.MethodPost, "/api/v1/products", `{"sku":"CONF-3","name":"x","priceCents":1,"currency":"EUR"}`, tokenA...)

		path := "/api/v1/products/" + product
		f.send(http.StatusOK, http.MethodGet, path, "")
		etag := f.send(http.StatusOK, http.MethodGet, path, "").header.Get("ETag")
		f.send(http.StatusNotModified, http.MethodGet, path, "", "If-None-Match", etag)
		f.sendInvalid(http.StatusBadRequest, http.MethodGet, "/api/v1/products/not-a-uuid", "")
		f.send(http.StatusNotFound, http.MethodGet, "/api/v1/products/00000000-0000-4000-8000-000000000000", "")
		f.send(http.StatusUnauthorized, http.MethodGet, path, "", expired...)

		f.send(http.StatusOK, http.MethodGet, "/api/v1/products/by-sku/conf-1", "")
		f.send(http.StatusNotFound, http.MethodGet, "/api/v1/products/by-sku/NOPE", "")
		f.sendInvalid(http.StatusBadRequest, http.MethodGet, "/api/v1/products/by-sku/a%21b", "")

		f.send(http.StatusOK, http.MethodGet, "/api/v1/products?page=1&pageSize=1&search=conf", "")
		f.send(http.StatusOK, http.MethodGet, "/api/v1/products?page=9", "")
		f.sendInvalid(http.StatusBadRequest, http.MethodGet, "/api/v1/products?pageSize=101", "")
		f.send(http.StatusOK, http.MethodGet, "/api/v1/products", "")
		etag = f.send(http.StatusOK, http.MethodGet, "/api/v1/products", "").header.Get("ETag")
		f.send(http.StatusNotModified, http.MethodGet, "/api/v1/products", "", "If-None-Match", etag)

		f.send(http.StatusOK, http.MethodPatch, path, `{"description":"changed"}`)
		f.sendInvalid(http.StatusBadRequest, http.MethodPatch, path, `{"name":null}`)
		f.send(http.StatusNotFound, http.MethodPatch, "/api/v1/products/00000000-0000-4000-8000-000000000000", `{"name":"x"}`)
		f.send(http.StatusOK, http.MethodPut, path+"/price", `{"priceCents":1300}`)
		f.sendInvalid(http.StatusBadRequest, http.MethodPut, path+"/price", `{"priceCents":"1300"}`)
		f.send(http.StatusForbidden, http.MethodPut, path+"/price", `{"priceCents":1}`, tokenA...)
		f.send(http.StatusOK, http.MethodPost, path+"/stock", `{"quantity":5}`)
		f.sendInvalid(http.StatusBadRequest, http.MethodPost, path+"/stock", `{"quantity":0}`)
		f.send(http.StatusNotFound, http.MethodPost, "/api/v1/products/00000000-0000-4000-8000-000000000000/stock", `{"quantity":1}`)
	})

	t.Run("customers", func(t *testing.T) {
		f.send(http.StatusConflict, http.MethodPost, "/api/v1/customers", `{"email":"CONF-A@example.com","name":"Twin"}`, noToken...)
		f.sendInvalid(http.StatusBadRequest, http.MethodPost, "/api/v1/customers", `{"email":"conf-c@example.com"}`, noToken...)
		f.send(http.StatusUnauthorized, http.MethodPost, "/api/v1/customers", `{"email":"conf-c@example.com","name":"C"}`, expired...)

		path := "/api/v1/customers/" + customerA
		f.send(http.StatusOK, http.MethodGet, path, "", tokenA...)
		etag := f.send(http.StatusOK, http.MethodGet, path, "").header.Get("ETag")
		f.send(http.StatusNotModified, http.MethodGet, path, "", "If-None-Match", etag)
		f.send(http.StatusForbidden, http.MethodGet, path, "", tokenB...)
		f.sendInvalid(http.StatusUnauthorized, http.MethodGet, path, "", noToken...)
		f.send(http.StatusNotFound, http.MethodGet, "/api/v1/customers/00000000-0000-4000-8000-000000000000", "")
		f.sendInvalid(http.StatusBadRequest, http.MethodGet, "/api/v1/customers/42", "")

		f.send(http.StatusOK, http.MethodPatch, path, `{"name":"Ada L."}`, tokenA...)
		f.send(http.StatusConflict, http.MethodPatch, path, `{"email":"conf-b@example.com"}`, tokenA...)
		f.send(http.StatusForbidden, http.MethodPatch, path, `{"name":"Not me"}`, tokenB...)
		f.sendInvalid(http.StatusBadRequest, http.MethodPatch, path, `{"name":""}`, tokenA...)

		f.send(http.StatusOK, http.MethodGet, path+"/orders", "", tokenA...)
		f.send(http.StatusNotFound, http.MethodGet, "/api/v1/customers/00000000-0000-4000-8000-000000000000/orders", "")
		f.send(http.StatusForbidden, http.MethodGet, path+"/orders", "", tokenB...)
	})

	t.Run("orders", func(t *testing.T) {
		place := orderBody(customerA, product, 2, other, 1)
		key := []string{"Idempotency-Key", "conformance-1"}
		r := f.send(http.StatusCreated, http.MethodPost, "/api/v1/orders", place, append(key, tokenA...)...)
		order := r.json(t)["id"].(string)
		replay := f.send(http.StatusCreated, http.MethodPost, "/api/v1/orders", place, append(key, tokenA...)...)
		if replay.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("repeat with the same key: Idempotent-Replayed = %q", replay.header.Get("Idempotent-Replayed"))
		}
		f.send(http.StatusUnprocessableEntity, http.MethodPost, "/api/v1/orders", orderBody(customerA, product, 1), append(key, tokenA...)...)
		f.sendInvalid(http.StatusBadRequest, http.MethodPost, "/api/v1/orders", place, append([]string{"Idempotency-Key", strings.Repeat("k", 256)}, tokenA...)...)
		f.send(http.StatusConflict, http.MethodPost, "/api/v1/orders", orderBody(customerA, product, 10000), tokenA...)
		f.send(http.StatusNotFound, http.MethodPost, "/api/v1/orders", orderBody(customerA, "00000000-0000-4000-8000-000000000000", 1), tokenA...)
		f.send(http.StatusForbidden, http.MethodPost, "/api/v1/orders", orderBody(customerB, product, 1), tokenA...)
		f.sendInvalid(http.StatusBadRequest, http.MethodPost, "/api/v1/orders", `{"customerId":"`+customerA+`","lines":[]}`, tokenA...)

		path := "/api/v1/orders/" + order
		etag := f.send(http.StatusOK, http.MethodGet, path, "", tokenA...).header.Get("ETag")
		f.send(http.StatusNotModified, http.MethodGet, path, "", append([]string{"If-None-Match", etag}, tokenA...)...)
		f.send(http.StatusForbidden, http.MethodGet, path, "", tokenB...)
		f.send(http.StatusNotFound, http.MethodGet, "/api/v1/orders/00000000-0000-4000-8000-000000000000", "")

		f.send(http.StatusOK, http.MethodPost, path+"/pay", "", tokenA...)
		f.send(http.StatusConflict, http.MethodPost, path+"/pay", "", tokenA...)
		f.send(http.StatusForbidden, http.MethodPost, path+"/ship", "", tokenA...)
		f.send(http.StatusOK, http.MethodPost, path+"/ship", "")
		f.send(http.StatusConflict, http.MethodPost, path+"/cancel", "", tokenA...)
		f.sendInvalid(http.StatusBadRequest, http.MethodPost, "/api/v1/orders/nope/cancel", "", tokenA...)
		f.send(http.StatusNotFound, http.MethodPost, "/api/v1/orders/00000000-0000-4000-8000-000000000000/ship", "")
		second := f.send(http.StatusCreated, http.MethodPost, "/api/v1/orders", orderBody(customerA, other, 1), tokenA...).json(t)["id"].(string)
		f.send(http.StatusForbidden, http.MethodPost, "/api/v1/orders/"+second+"/cancel", "", tokenB...)
		f.send(http.StatusOK, http.MethodPost, "/api/v1/orders/"+second+"/cancel", "", tokenA...)

		summaries := "/api/v1/customers/" + customerA + "/orders"
		f.send(http.StatusOK, http.MethodGet, summaries, "", tokenA...)
		etag = f.send(http.StatusOK, http.MethodGet, summaries, "", tokenA...).header.Get("ETag")
		f.send(http.StatusNotModified, http.MethodGet, summaries, "", append([]string{"If-None-Match", etag}, tokenA...)...)
	})

	t.Run("public catalogue", func(t *testing.T) {
		f.send(http.StatusOK, http.MethodGet, "/public/products", "")
		etag := f.send(http.StatusOK, http.MethodGet, "/public/products", "").header.Get("ETag")
		f.send(http.StatusNotModified, http.MethodGet, "/public/products", "", "If-None-Match", etag)
		// With credentials the answer is private, never shared.
		r := f.send(http.StatusOK, http.MethodGet, "/public/products", "", tokenA...)
		if cc := r.header.Get("Cache-Control"); cc != "private, no-store" {
			t.Errorf("public catalogue with a token: Cache-Control %q", cc)
		}
		f.send(http.StatusNotModified, http.MethodGet, "/public/products", "", append([]string{"If-None-Match", etag}, tokenA...)...)
		f.send(http.StatusUnauthorized, http.MethodGet, "/public/products", "", expired...)
	})

	t.Run("operations with tokens", func(t *testing.T) {
		f.send(http.StatusOK, http.MethodGet, "/api/v1/admin/cache/stats", "")
		f.send(http.StatusForbidden, http.MethodGet, "/api/v1/admin/cache/stats", "", tokenA...)
		f.sendInvalid(http.StatusUnauthorized, http.MethodGet, "/api/v1/admin/cache/stats", "", noToken...)
		f.send(http.StatusOK, http.MethodGet, "/debug/pprof/heap", "")
		f.send(http.StatusOK, http.MethodGet, "/debug/pprof/profile?seconds=1", "")
		f.sendInvalid(http.StatusBadRequest, http.MethodGet, "/debug/pprof/profile?seconds=61", "")
		f.sendInvalid(http.StatusNotFound, http.MethodGet, "/debug/pprof/nothing", "")
		f.send(http.StatusForbidden, http.MethodGet, "/debug/pprof/heap", "", tokenA...)
		f.sendInvalid(http.StatusUnauthorized, http.MethodGet, "/debug/pprof/heap", "", noToken...)
		// The operations console (console_test.go has the rest).
		f.send(http.StatusOK, http.MethodGet, "/api/v1/admin/overview", "")
		f.send(http.StatusForbidden, http.MethodGet, "/api/v1/admin/overview", "", tokenA...)
		f.send(http.StatusOK, http.MethodGet, "/api/v1/admin/dead-letters?limit=10", "")
		f.sendInvalid(http.StatusBadRequest, http.MethodGet, "/api/v1/admin/dead-letters?limit=0", "")
		f.send(http.StatusOK, http.MethodPost, "/api/v1/admin/dead-letters/redrive", `{"ids":["1-0"]}`)
		f.sendInvalid(http.StatusBadRequest, http.MethodPost, "/api/v1/admin/dead-letters/redrive", `{"ids":["nope"]}`)
		f.send(http.StatusOK, http.MethodPost, "/api/v1/admin/dead-letters/drop", `{"all":true}`)
		f.send(http.StatusAccepted, http.MethodPost, "/api/v1/admin/replay", `{"from":"store"}`)
		f.send(http.StatusConflict, http.MethodPost, "/api/v1/admin/replay", `{}`)
		f.send(http.StatusOK, http.MethodPost, "/api/v1/admin/replay/cancel", "")
		f.send(http.StatusNotFound, http.MethodPost, "/api/v1/admin/replay/cancel", "")
		f.send(http.StatusOK, http.MethodGet, "/admin/console", "", noToken...)
		f.send(http.StatusOK, http.MethodGet, "/admin/console/console.js", "", noToken...)
		f.send(http.StatusOK, http.MethodGet, "/admin/console/console.css", "", noToken...)
		f.send(http.StatusUnauthorized, http.MethodGet, "/openapi.yaml", "", expired...)
		f.send(http.StatusUnauthorized, http.MethodGet, "/metrics", "", expired...)
		f.send(http.StatusUnauthorized, http.MethodGet, "/readyz", "", expired...)
	})

	t.Run("rate limit", func(t *testing.T) {
		// A second API over the same database and cache, allowing one
		// mutation per client and then none for a long while.
		store := postgres.NewStore(a.pool)
		application, err := wire.New(store, store, a.cache)
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		server, err := orderflowhttp.NewServer(orderflowhttp.Config{
			App: application, Registerer: reg, Gatherer: reg, Cache: a.cache, Ready: store.Ping, Tokens: a.keys,
			RateLimit: 0.001, RateBurst: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(server.Handler())
		t.Cleanup(ts.Close)
		inner := *a.api
		inner.url = ts.URL
		limited := *a
		limited.api = &inner
		lf := *f
		lf.a = &limited
		lf.send(http.StatusOK, http.MethodPost, "/api/v1/products/"+product+"/stock", `{"quantity":1}`)
		r := lf.send(http.StatusTooManyRequests, http.MethodPost, "/api/v1/products/"+product+"/stock", `{"quantity":1}`)
		if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("Retry-After = %q", r.header.Get("Retry-After"))
		}
	})

	t.Run("redis down", func(t *testing.T) {
		a.redisProxy.Cut()
		f.send(http.StatusOK, http.MethodGet, "/api/v1/products/"+product, "")
		f.send(http.StatusOK, http.MethodGet, "/public/products", "")
		testenv.WaitFor(t, pollLimit, "readiness degraded", func() (bool, string) {
			r := f.send(http.StatusOK, http.MethodGet, "/readyz", "")
			return r.json(t)["status"] == "degraded", string(r.body)
		})
		f.send(http.StatusOK, http.MethodGet, "/api/v1/admin/cache/stats", "")
		a.redisProxy.Restore()
		eventuallyReady(t, a)
	})

	t.Run("postgres down", func(t *testing.T) {
		path := "/api/v1/products/" + product
		a.warm(path)
		a.warm("/api/v1/customers/" + customerA)
		a.pgProxy.Cut()
		r := f.send(http.StatusOK, http.MethodGet, path, "")
		if xc := r.header.Get("X-Cache"); xc != string(app.CacheStale) || !bytes.Contains(r.body, []byte(`"stockLevel":null`)) {
			t.Errorf("cached product with PostgreSQL down: X-Cache %q, body %s", xc, r.body)
		}
		f.send(http.StatusOK, http.MethodGet, "/api/v1/customers/"+customerA, "", tokenA...)
		f.send(http.StatusServiceUnavailable, http.MethodGet, "/api/v1/products/"+other, "")
		f.send(http.StatusServiceUnavailable, http.MethodPost, path+"/stock", `{"quantity":1}`)
		f.send(http.StatusServiceUnavailable, http.MethodGet, "/readyz", "")
		a.pgProxy.Restore()
		eventuallyReady(t, a)
	})

	// Every documented operation answered at least once with success.
	exchanges := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			statuses := c.answered[op.OperationID]
			exchanges += len(statuses)
			if !slices.ContainsFunc(statuses, func(s int) bool { return s >= 200 && s < 300 }) {
				t.Errorf("%s %s (%s): no successful exchange in the flow (statuses %v)", method, path, op.OperationID, statuses)
			}
		}
	}
	t.Logf("%d exchanges validated over %d operations", exchanges, len(c.answered))
}

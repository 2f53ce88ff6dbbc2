package http

import (
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/app"
)

// access is what a route asks of its caller (docs/guarantees.md, "Auth"). Whether a
// customer owns what it names is the use case's to decide (app.ErrForbidden):
// only the use case loads the order or sees the customer id in the body.
type access int

const (
	// accessAnonymous routes answer anyone; a token, when presented, must
	// still be valid.
	accessAnonymous access = iota
	// accessCustomer routes need a valid token of either role; the use case
	// checks that a customer acts only for itself.
	accessCustomer
	// accessAdmin routes need an admin token.
	accessAdmin
)

func (a access) String() string {
	switch a {
	case accessAnonymous:
		return "anonymous"
	case accessCustomer:
		return "customer"
	default:
		return "admin"
	}
}

// routeAccess is who may call each route, keyed "METHOD /path" as Echo
// registers it. NewServer refuses a route missing here, so a new route
// cannot be anonymous by accident.
func routeAccess() map[string]access {
	return map[string]access{
		"POST /api/v1/products":            accessAdmin,
		"GET /api/v1/products":             accessAnonymous,
		"GET /api/v1/products/by-sku/:sku": accessAnonymous,
		"GET /api/v1/products/:id":         accessAnonymous,
		"PATCH /api/v1/products/:id":       accessAdmin,
		"PUT /api/v1/products/:id/price":   accessAdmin,
		"POST /api/v1/products/:id/stock":  accessAdmin,
		"POST /api/v1/customers":           accessAnonymous,
		"GET /api/v1/customers/:id":        accessCustomer,
		"PATCH /api/v1/customers/:id":      accessCustomer,
		"GET /api/v1/customers/:id/orders": accessCustomer,
		"POST /api/v1/orders":              accessCustomer,
		"GET /api/v1/orders/:id":           accessCustomer,
		"POST /api/v1/orders/:id/pay":      accessCustomer,
		"POST /api/v1/orders/:id/ship":     accessAdmin,
		"POST /api/v1/orders/:id/cancel":   accessCustomer,
		"GET /public/products":             accessAnonymous,
		"GET /api/v1/admin/cache/stats":    accessAdmin,
		"GET /debug/pprof/:name":           accessAdmin,
		// The operations console: the page and its assets load anonymously
		// (they hold no data); every data and action call needs admin.
		"GET /api/v1/admin/overview":              accessAdmin,
		"GET /api/v1/admin/dead-letters":          accessAdmin,
		"POST /api/v1/admin/dead-letters/redrive": accessAdmin,
		"POST /api/v1/admin/dead-letters/drop":    accessAdmin,
		"POST /api/v1/admin/replay":               accessAdmin,
		"POST /api/v1/admin/replay/cancel":        accessAdmin,
		"GET /admin/console":                      accessAnonymous,
		"GET /admin/console/console.js":           accessAnonymous,
		"GET /admin/console/console.css":          accessAnonymous,
		"GET /healthz":                            accessAnonymous,
		"GET /readyz":                             accessAnonymous,
		"GET /metrics":                            accessAnonymous,
		"GET /openapi.yaml":                       accessAnonymous,
	}
}

// checkRouteAccess reports every registered route that routeAccess misses.
func checkRouteAccess(routes []*echo.Route, table map[string]access) error {
	var missing []string
	for _, r := range routes {
		if _, ok := table[r.Method+" "+r.Path]; !ok {
			missing = append(missing, r.Method+" "+r.Path)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("http: routes without an access rule: %s", strings.Join(missing, ", "))
	}
	return nil
}

// maxSubjectLength bounds a token's subject: it becomes the actor of every
// event and the scope of idempotency keys.
const maxSubjectLength = 255

// authenticate verifies the bearer token of every request, on every request
// (tokens are never cached), puts its caller in the request's context and
// enforces the route's role. It runs after routing, so the route is known;
// a path no route matches is anonymous and answers 404 or 405.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.tokens == nil { // authentication is off
			return next(c)
		}
		req := c.Request()
		need, ok := s.access[req.Method+" "+c.Path()]
		if !ok {
			need = accessAnonymous
		}
		values := req.Header.Values(echo.HeaderAuthorization)
		if len(values) == 0 {
			if need == accessAnonymous {
				return next(c)
			}
			return unauthorized(c, "", "This route needs a bearer token: Authorization: Bearer <token>.")
		}
		token, ok := bearerToken(values)
		if !ok {
			return unauthorized(c, "invalid_request", "Send one Authorization header of the form Bearer <token>.")
		}
		p, err := s.tokens.Verify(token)
		if err != nil || len(p.Subject) > maxSubjectLength {
			return unauthorized(c, "invalid_token", "The bearer token is malformed, expired or not signed by this service.")
		}
		if p.Role == app.RoleCustomer {
			// A customer's subject is its id, compared with ids the API has
			// put in canonical form.
			if id, ok := canonicalUUID(p.Subject); ok {
				p.Subject = id
			}
		}
		if need == accessAdmin && p.Role != app.RoleAdmin {
			return &requestError{kind: kindForbidden, detail: "This route needs the admin role."}
		}
		ctx := app.WithPrincipal(req.Context(), p)
		md := app.MetadataFrom(ctx)
		md.Actor = string(p.Role) + ":" + p.Subject
		c.SetRequest(req.WithContext(app.WithMetadata(ctx, md)))
		return next(c)
	}
}

// bearerToken reads the one Authorization header's token; the scheme is
// case-insensitive (RFC 9110 §11.1).
func bearerToken(values []string) (string, bool) {
	if len(values) != 1 {
		return "", false
	}
	scheme, token, found := strings.Cut(values[0], " ")
	token = strings.TrimSpace(token)
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// unauthorized answers 401 with the RFC 6750 challenge; errCode says what
// was wrong with the credentials, when some were sent.
func unauthorized(c echo.Context, errCode, detail string) error {
	challenge := `Bearer realm="orderflow"`
	if errCode != "" {
		challenge += `, error="` + errCode + `"`
	}
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge)
	return &requestError{kind: kindUnauthorized, detail: detail}
}

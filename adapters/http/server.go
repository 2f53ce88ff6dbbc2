package http

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/ops"
)

// DefaultBodyLimit caps request bodies: up to 1 MiB, 413 beyond (ADR 9).
const DefaultBodyLimit int64 = 1 << 20

// Config is what the HTTP adapter needs; NewServer validates it.
type Config struct {
	// App holds every command and query handler. Required.
	App *app.Application
	// Logger receives request logs (debug) and failures (error). Defaults to
	// a logger that discards everything.
	Logger *slog.Logger
	// Registerer receives the HTTP metrics and Gatherer serves /metrics.
	// Give both or neither; neither means a private registry for both.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Ready is the readiness probe behind /readyz: nil when PostgreSQL and
	// Redis are reachable. Required.
	Ready func(ctx context.Context) error
	// BodyLimit caps request bodies in bytes. Defaults to DefaultBodyLimit.
	BodyLimit int64
	// RateLimit is how many mutations per second one client may make
	// (DefaultRateLimit is the binaries' default); 0 turns the limit off.
	RateLimit float64
	// RateBurst is how many mutations one client may make at once.
	// Defaults to DefaultRateBurst when RateLimit is set.
	RateBurst int
	// Cache, when set, backs the output cache of public endpoints and the
	// cache statistics; the queries in App use it on their own.
	Cache *cache.Cache
	// RedisStats reads Redis's own keyspace hits and misses, summed over
	// every master of a cluster, for the cache statistics; optional.
	RedisStats func(ctx context.Context) (RedisKeyspace, error)
	// Degraded names the optional dependencies that are down (Redis: the
	// API then answers from PostgreSQL); /readyz stays 200 but says so.
	Degraded func(ctx context.Context) []string
	// Tokens verifies bearer tokens (ADR 8). Required unless
	// AuthOff, which opens every route to anyone (ORDERFLOW_AUTH=off).
	Tokens  app.TokenVerifier
	AuthOff bool
	// Console serves the operations console's data and actions; without
	// it those routes answer 503.
	Console *ops.Console
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil && c.Gatherer == nil {
		reg := prometheus.NewRegistry()
		c.Registerer, c.Gatherer = reg, reg
	}
	if c.BodyLimit == 0 {
		c.BodyLimit = DefaultBodyLimit
	}
	if c.RateLimit > 0 && c.RateBurst == 0 {
		c.RateBurst = DefaultRateBurst
	}
}

// Validate reports every setting that NewServer cannot work with.
func (c Config) Validate() error {
	var errs []error
	if c.App == nil {
		errs = append(errs, errors.New("http: App is required"))
	}
	if c.Ready == nil {
		errs = append(errs, errors.New("http: Ready is required"))
	}
	if (c.Registerer == nil) != (c.Gatherer == nil) {
		errs = append(errs, errors.New("http: give both Registerer and Gatherer, or neither"))
	}
	if c.BodyLimit < 0 {
		errs = append(errs, errors.New("http: BodyLimit must not be negative"))
	}
	if c.RateLimit < 0 || c.RateBurst < 0 {
		errs = append(errs, errors.New("http: RateLimit and RateBurst must not be negative"))
	}
	if c.Tokens == nil && !c.AuthOff {
		errs = append(errs, errors.New("http: Tokens is required unless AuthOff"))
	}
	return errors.Join(errs...)
}

// Server is OrderFlow's REST API. It is safe for concurrent use once built.
type Server struct {
	app        *app.Application
	cache      *cache.Cache
	redisStats func(ctx context.Context) (RedisKeyspace, error)
	degraded   func(ctx context.Context) []string
	logger     *slog.Logger
	ready      func(ctx context.Context) error
	bodyLimit  int64
	metrics    *httpMetrics
	// limiter is nil when mutations are not rate-limited.
	limiter *rateLimiter
	// metricsPage serves /metrics from cfg.Gatherer.
	metricsPage http.Handler
	echo        *echo.Echo
	// routePaths holds every registered route template; metrics label any
	// other path as unmatched, so clients cannot grow the label set.
	routePaths map[string]bool
	// tokens verifies bearer tokens; nil when authentication is off.
	tokens app.TokenVerifier
	// access is who may call each route (auth.go).
	access map[string]access
	// console is nil when the API was built without it.
	console *ops.Console
}

// NewServer builds the API with every route of openapi.yaml and registers
// its metrics on cfg.Registerer.
func NewServer(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	metrics, err := newHTTPMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		app:         cfg.App,
		cache:       cfg.Cache,
		redisStats:  cfg.RedisStats,
		degraded:    cfg.Degraded,
		logger:      cfg.Logger,
		ready:       cfg.Ready,
		bodyLimit:   cfg.BodyLimit,
		metrics:     metrics,
		metricsPage: promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}),
		echo:        echo.New(),
		access:      routeAccess(),
		console:     cfg.Console,
	}
	if !cfg.AuthOff {
		s.tokens = cfg.Tokens
	}
	if cfg.RateLimit > 0 {
		s.limiter = newRateLimiter(cfg.RateLimit, cfg.RateBurst, time.Now)
	}
	e := s.echo
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	// No proxy sits in front by default: trust the peer address, not
	// X-Forwarded-For, for anything keyed by client (rate limits later).
	e.IPExtractor = echo.ExtractIPDirect()
	// Order matters: metadata first so every log line has the correlation
	// id; observe turns errors into responses before measuring them; panics
	// become errors innermost, so they are answered and measured like any.
	e.Use(s.withRequestMetadata, s.observe, recoverPanics(), s.authenticate)
	// Security headers go on before routing, so even 404s carry them. The
	// rate limit keys on the authenticated subject: it runs after
	// authentication.
	e.Pre(securityHeaders())
	e.Use(s.limitBody(), s.rateLimit, withReadOptions)
	s.registerRoutes()
	if err := checkRouteAccess(e.Routes(), s.access); err != nil {
		return nil, err
	}
	s.routePaths = make(map[string]bool)
	for _, r := range e.Routes() {
		s.routePaths[r.Path] = true
	}
	return s, nil
}

// Handler returns the API to serve, with http.Server or httptest.
func (s *Server) Handler() http.Handler { return s.echo }

// registerRoutes lists every route of the API; openapi.yaml documents exactly
// these, as openapi_test.go checks.
func (s *Server) registerRoutes() {
	e := s.echo
	api := e.Group("/api/v1")

	api.POST("/products", s.handleCreateProduct)
	api.GET("/products", s.handleListProducts)
	api.GET("/products/by-sku/:sku", s.handleGetProductBySKU)
	api.GET("/products/:id", s.handleGetProduct)
	api.PATCH("/products/:id", s.handleChangeProductDetails)
	api.PUT("/products/:id/price", s.handleChangeProductPrice)
	api.POST("/products/:id/stock", s.handleRestockProduct)

	api.POST("/customers", s.handleRegisterCustomer)
	api.GET("/customers/:id", s.handleGetCustomer)
	api.PATCH("/customers/:id", s.handleUpdateCustomer)
	api.GET("/customers/:id/orders", s.handleGetCustomerOrders)

	api.POST("/orders", s.handlePlaceOrder)
	api.GET("/orders/:id", s.handleGetOrder)
	api.POST("/orders/:id/pay", s.handlePayOrder)
	api.POST("/orders/:id/ship", s.handleShipOrder)
	api.POST("/orders/:id/cancel", s.handleCancelOrder)

	e.GET("/public/products", s.handlePublicProducts, s.outputCache(cache.ProductsTag, publicCatalogueMaxAge))

	api.GET("/admin/cache/stats", s.handleCacheStats)
	e.GET("/debug/pprof/:name", s.handleProfile)
	s.registerConsoleRoutes(api)

	e.GET("/healthz", s.handleHealthz)
	e.GET("/readyz", s.handleReadyz)
	e.GET("/metrics", s.handleMetrics)
	e.GET("/openapi.yaml", s.handleOpenAPI)
}

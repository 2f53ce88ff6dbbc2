package http

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/orderflow/orderflow/app"
)

// Defaults of the mutation rate limit per client: generous enough that a
// burst of a few hundred orders from one client passes (ADR 9).
const (
	DefaultRateLimit = 100 // mutations per second, sustained
	DefaultRateBurst = 500 // mutations at once, after a quiet spell
)

// maxRateClients bounds the limiter's memory whatever the number of clients:
// about 200 bytes each.
const maxRateClients = 100_000

// rateLimiter is a token bucket per client. A client's bucket that has been
// idle long enough to refill completely is the same as a new one, so it is
// forgotten: memory follows the clients active in the last refill period,
// never more than maxRateClients.
//
// Echo's middleware.RateLimiter with its RateLimiterMemoryStore (v4.16) is
// not used because it falls short on three counts, read in its source and
// covered by ratelimit_test.go: Allow answers only yes or no, so there is no
// wait to send as Retry-After; its map of clients has no cap, so a flood of
// addresses grows it until the next cleanup (3 minutes by default); and its
// clock is unexported, so a test cannot step it.
type rateLimiter struct {
	limit rate.Limit
	burst int
	// forgetAfter is how long an idle bucket takes to fill up again.
	forgetAfter time.Duration
	// maxClients bounds the clients remembered (maxRateClients).
	maxClients int
	now        func() time.Time

	mu        sync.Mutex
	clients   map[string]*rateClient
	lastSweep time.Time
}

type rateClient struct {
	bucket   *rate.Limiter
	lastSeen time.Time
}

// newRateLimiter returns a limiter of perSecond mutations with bursts of
// burst; now is the clock.
func newRateLimiter(perSecond float64, burst int, now func() time.Time) *rateLimiter {
	refill := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &rateLimiter{
		limit:       rate.Limit(perSecond),
		burst:       burst,
		forgetAfter: max(refill, time.Second),
		maxClients:  maxRateClients,
		now:         now,
		clients:     make(map[string]*rateClient),
		lastSweep:   now(),
	}
}

// allow takes one token from client's bucket; when there is none it returns
// how long until there will be.
func (l *rateLimiter) allow(client string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.lastSweep) >= l.forgetAfter {
		l.sweep(now)
	}
	c, ok := l.clients[client]
	if !ok {
		if len(l.clients) >= l.maxClients {
			l.evictOne()
		}
		c = &rateClient{bucket: rate.NewLimiter(l.limit, l.burst)}
		l.clients[client] = c
	}
	c.lastSeen = now
	r := c.bucket.ReserveN(now, 1)
	if !r.OK() {
		return false, l.forgetAfter
	}
	if wait := r.DelayFrom(now); wait > 0 {
		// Refused requests take no token: a client that keeps retrying
		// too early is not pushed further back.
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// sweep forgets every bucket that is full again.
func (l *rateLimiter) sweep(now time.Time) {
	for id, c := range l.clients {
		if now.Sub(c.lastSeen) >= l.forgetAfter {
			delete(l.clients, id)
		}
	}
	l.lastSweep = now
}

// evictOne makes room when maxClients are all active at once, in constant
// time (a sweep per new client would let a flood of addresses hold the lock):
// the evicted client, chosen at random, merely starts over with a full bucket.
func (l *rateLimiter) evictOne() {
	for id := range l.clients {
		delete(l.clients, id)
		return
	}
}

// size is the number of clients remembered.
func (l *rateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// rateLimit answers mutations (POST, PUT, PATCH, DELETE) beyond the client's
// rate with 429 rate-limited and Retry-After. The client is the token's
// subject when the request is authenticated, so one customer cannot starve
// others behind the same address; otherwise it is the peer address (the
// server trusts no forwarding headers). Reads are cheap and cached and are
// not limited.
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.limiter == nil {
			return next(c)
		}
		switch c.Request().Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			return next(c)
		}
		ok, wait := s.limiter.allow(rateClientID(c))
		if ok {
			return next(c)
		}
		seconds := max(int64(math.Ceil(wait.Seconds())), 1)
		c.Response().Header().Set("Retry-After", strconv.FormatInt(seconds, 10))
		return &requestError{kindRateLimited, fmt.Sprintf("Too many changes from this client; retry in %d s.", seconds)}
	}
}

// rateClientID names the client whose bucket a request draws on.
func rateClientID(c echo.Context) string {
	if p, ok := app.PrincipalFrom(c.Request().Context()); ok && p.Subject != "" {
		return "sub:" + p.Subject
	}
	return "ip:" + c.RealIP()
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/internal/testenv/process"
)

// serveBaselinesCommand is the read suite's baseline server: the bench
// starts its own binary with it, so that the baselines run as a process of
// their own, as the API does. Run inside the load generator's process they
// shared its Go scheduler, and on 2 CPUs every request to the API paid for
// switches between processes that the baselines never made: the ratios then
// measured the process topology as much as the API's work.
const serveBaselinesCommand = "serve-baselines"

// baselineSettings are what serve-baselines reads: baseSettings, the pool
// size and the address to listen on.
const (
	baselineAddrEnv  = "ORDERFLOW_HTTP_ADDR"
	baselineConnsEnv = "ORDERFLOW_DATABASE_CONNS"
)

// startBaselines starts serve-baselines on a free loopback port with the
// suite's database and key prefix, and waits until it is ready.
func startBaselines(ctx context.Context, e *env) (*process.Process, error) {
	return startProcess(ctx, e, processSpec{
		bin:     benchBinary,
		args:    []string{serveBaselinesCommand},
		env:     []string{baselineConnsEnv + "=" + strconv.Itoa(e.cfg.DatabaseConns)},
		addrEnv: baselineAddrEnv,
		label:   "baselines (Echo, Echo + Redis, Echo + pgx)",
	})
}

// serveBaselines serves the baselines until ctx ends, then drains: one
// route per baseline, nothing, one Redis GET of a body the suite copied
// from the API, one PostgreSQL primary-key read encoded as JSON.
func serveBaselines(ctx context.Context, lookupEnv func(string) (string, bool)) (err error) {
	setting := func(name string) (string, error) {
		v, ok := lookupEnv(name)
		if !ok || v == "" {
			return "", fmt.Errorf("%s: %s is required", serveBaselinesCommand, name)
		}
		return v, nil
	}
	var dbURL, redisURL, prefix, addr, connsText string
	for name, dst := range map[string]*string{"ORDERFLOW_DATABASE_URL": &dbURL, "ORDERFLOW_REDIS_URL": &redisURL,
		"ORDERFLOW_KEY_PREFIX": &prefix, baselineAddrEnv: &addr, baselineConnsEnv: &connsText} {
		if *dst, err = setting(name); err != nil {
			return err
		}
	}
	conns, err := strconv.Atoi(connsText)
	if err != nil || conns < 1 {
		return fmt.Errorf("%s: %s must be a positive integer, got %q", serveBaselinesCommand, baselineConnsEnv, connsText)
	}
	poolCfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	poolCfg.MaxConns = int32(conns)
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("open the database: %w", err)
	}
	defer pool.Close()
	redisOpts, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("redis URL: %w", err)
	}
	rdb := redis.NewClient(redisOpts)
	defer func() { err = errors.Join(err, rdb.Close()) }()

	ec := echo.New()
	ec.HideBanner, ec.HidePort = true, true
	bare := []byte(`{"status":"ok"}`)
	ec.GET("/readyz", func(c echo.Context) error { return c.JSONBlob(http.StatusOK, bare) })
	ec.GET("/bare", func(c echo.Context) error { return c.JSONBlob(http.StatusOK, bare) })
	ec.GET("/redis/:key", func(c echo.Context) error {
		b, err := rdb.Get(c.Request().Context(), prefix+"bench:"+c.Param("key")).Bytes()
		if err != nil {
			return err
		}
		return c.JSONBlob(http.StatusOK, b)
	})
	ec.GET("/pg/products/:id", func(c echo.Context) error {
		p, err := readProduct(c.Request().Context(), pool, c.Param("id"))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, p)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", serveBaselinesCommand, err)
	}
	srv := &http.Server{Handler: ec, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return srv.Shutdown(drain)
}

// pgProduct is a products row as the Echo + pgx baseline answers it.
type pgProduct struct {
	ID          string    `json:"id"`
	SKU         string    `json:"sku"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	PriceCents  int64     `json:"priceCents"`
	Currency    string    `json:"currency"`
	StockLevel  int64     `json:"stockLevel"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

const productByIDQuery = `SELECT id::text, sku, name, description, price_cents, currency, stock_level, version, created_at, updated_at
	FROM products WHERE id = $1`

// readProduct is the Echo + pgx baseline's one query, also the naive
// stampede's load.
func readProduct(ctx context.Context, pool *pgxpool.Pool, id string) (pgProduct, error) {
	var p pgProduct
	err := pool.QueryRow(ctx, productByIDQuery, id).
		Scan(&p.ID, &p.SKU, &p.Name, &p.Description, &p.PriceCents, &p.Currency, &p.StockLevel, &p.Version, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

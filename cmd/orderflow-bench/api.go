package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/adapters/jwt"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/internal/testenv/process"
)

// stopWithin bounds a process's drain after SIGTERM; it is killed after.
const stopWithin = 30 * time.Second

// processSpec says how to start one of OrderFlow's binaries.
type processSpec struct {
	// bin is the binary's name: orderflow-api, orderflow-relay, orderflow-projector.
	bin  string
	args []string
	// env is added to baseSettings; later entries win.
	env []string
	// addrEnv names the variable that receives a free loopback address for
	// the process's HTTP server; "" when it serves none.
	addrEnv string
	// stdout receives the process's standard output (default: our stderr,
	// with its logs).
	stdout io.Writer
	// noWait returns right after the start; call WaitReady to wait.
	noWait bool
	// label names the process in messages (default: bin).
	label string
}

// baseSettings is what every process under test runs with: the suite's
// database and key prefix, and quiet logs.
func baseSettings(e *env) []string {
	return []string{
		"ORDERFLOW_DATABASE_URL=" + e.db.url,
		"ORDERFLOW_REDIS_URL=" + e.cfg.RedisURL,
		"ORDERFLOW_KEY_PREFIX=" + e.keys.Prefix,
		"ORDERFLOW_LOG_LEVEL=warn",
	}
}

// startProcess starts a binary as a separate process, as in production (its
// CPU and memory are its own, not the load generator's), through the runner
// the system tests use, and unless spec.noWait waits until its /readyz
// answers 200.
func startProcess(ctx context.Context, e *env, spec processSpec) (*process.Process, error) {
	bin, err := e.binary(spec.bin)
	if err != nil {
		return nil, err
	}
	label := spec.label
	if label == "" {
		label = spec.bin
	}
	settings := map[string]string{}
	for _, kv := range append(baseSettings(e), spec.env...) {
		k, v, _ := strings.Cut(kv, "=")
		settings[k] = v
	}
	p, err := process.New(process.Spec{
		Name: label, Path: bin, Args: spec.args,
		// The shell's ORDERFLOW_ variables reach the processes; ours win.
		Settings: settings, InheritSettings: true,
		AddrEnv: spec.addrEnv, Output: e.stderr, Stdout: spec.stdout,
		// Should the benchmark die without stopping it, the process gets SIGTERM.
		DieWithParent: true,
	})
	if err != nil {
		return nil, err
	}
	if err := p.Start(); err != nil {
		return nil, err
	}
	if spec.noWait || spec.addrEnv == "" {
		return p, nil
	}
	if err := p.WaitReady(ctx, e.cfg.ReadyTimeout); err != nil {
		return nil, errors.Join(err, p.Stop(stopWithin))
	}
	return p, nil
}

// startAPI starts `orderflow-api serve` on a free loopback port and waits
// until /readyz answers 200; env is added to its settings (ORDERFLOW_CACHE=false).
func startAPI(ctx context.Context, e *env, label string, env ...string) (*process.Process, error) {
	return startProcess(ctx, e, processSpec{
		bin:  "orderflow-api",
		args: []string{"serve"},
		// Auth runs as in production (the clients of apiClient send an admin
		// token); the rate limiter is off, it would throttle the load generator.
		env: append([]string{"ORDERFLOW_DATABASE_CONNS=" + strconv.Itoa(e.cfg.DatabaseConns),
			"ORDERFLOW_JWT_SECRET=" + benchJWTSecret, "ORDERFLOW_RATE_LIMIT=0"}, env...),
		addrEnv: "ORDERFLOW_HTTP_ADDR",
		label:   label,
	})
}

// newHTTPClient is a keep-alive client with an idle connection per client,
// so that closed-loop clients never reconnect.
func newHTTPClient(clients int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 2 * clients
	t.MaxIdleConnsPerHost = 2 * clients
	t.DisableCompression = true
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// benchJWTSecret signs the tokens of the APIs the benchmark starts; they
// run on loopback for the length of a suite, so a fixed secret is no risk.
const benchJWTSecret = "orderflow-bench-hs256-secret-of-at-least-32-bytes"

// adminToken mints an admin bearer token for the APIs the benchmark starts.
func adminToken() (string, error) {
	keys, err := jwt.NewKeys([]byte(benchJWTSecret))
	if err != nil {
		return "", err
	}
	token, err := keys.Mint(app.Principal{Subject: "orderflow-bench", Role: app.RoleAdmin}, 24*time.Hour)
	if err != nil {
		return "", fmt.Errorf("mint the admin token: %w", err)
	}
	return token, nil
}

// apiClient is newHTTPClient that sends the run's admin token on every
// route that is not anonymous.
func (e *env) apiClient(clients int) *http.Client {
	c := newHTTPClient(clients)
	c.Transport = &bearer{next: c.Transport, header: "Bearer " + e.token}
	return c
}

// bearer adds an Authorization header to requests of non-anonymous routes.
// Anonymous routes go without one, as anonymous clients send them: an
// authenticated answer never enters the output cache (ADR 8).
type bearer struct {
	next   http.RoundTripper
	header string
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	if anonymousRoute(req.Method, req.URL.Path) {
		return b.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", b.header)
	return b.next.RoundTrip(req)
}

// anonymousRoute reports the routes anyone may call: product GETs,
// customer registration, /public/*, health, metrics and the OpenAPI document.
func anonymousRoute(method, path string) bool {
	switch {
	case method == http.MethodPost:
		return path == "/api/v1/customers"
	case method != http.MethodGet && method != http.MethodHead:
		return false
	case path == "/api/v1/products", strings.HasPrefix(path, "/api/v1/products/"), strings.HasPrefix(path, "/public/"):
		return true
	default:
		return path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/openapi.yaml"
	}
}

// httpError is an answer with another status than the one expected.
type httpError struct {
	method, path string
	status       int
	body         string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.method, e.path, e.status, e.body)
}

func (e *httpError) kind() string { return fmt.Sprintf("HTTP %d", e.status) }

// maxErrorBody is how much of an unexpected answer is kept.
const maxErrorBody = 600

// postJSON posts body as JSON and expects 201; it decodes the answer into
// out unless out is nil, else it only drains it so the connection is reused.
func postJSON(ctx context.Context, client *http.Client, baseURL, path string, body []byte, out any) error {
	return sendJSON(ctx, client, http.MethodPost, baseURL, path, body, http.StatusCreated, out)
}

// sendJSON sends body as JSON with method and expects the status want;
// out is as for postJSON.
func sendJSON(ctx context.Context, client *http.Client, method, baseURL, path string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, baseURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		_, _ = io.Copy(io.Discard, resp.Body)
		return &httpError{method: method, path: path, status: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// getCached is a GET expecting 200 whose answer is drained. An X-Cache
// header other than want ("" for any) is an error of its own kind.
func getCached(ctx context.Context, client *http.Client, url, want string) error {
	return getCachedWith(ctx, client, url, want, "")
}

// getCachedWith is getCached sending a Cache-Control request header when
// cacheControl is not empty.
func getCachedWith(ctx context.Context, client *http.Client, url, want, cacheControl string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if cacheControl != "" {
		req.Header.Set("Cache-Control", cacheControl)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		_, _ = io.Copy(io.Discard, resp.Body)
		return &httpError{method: http.MethodGet, path: req.URL.Path, status: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if got := resp.Header.Get("X-Cache"); want != "" && got != want {
		return &cacheStatusError{path: req.URL.Path, want: want, got: got}
	}
	return nil
}

// getBody is a GET expecting 200; it returns the body.
func getBody(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	body, _, err := getBodyWith(ctx, client, url, "")
	return body, err
}

// getBodyWith is getBody sending a Cache-Control request header when
// cacheControl is not empty; it also returns the answer's X-Cache header.
func getBodyWith(ctx context.Context, client *http.Client, url, cacheControl string) (body []byte, xCache string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	if cacheControl != "" {
		req.Header.Set("Cache-Control", cacheControl)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", &httpError{method: http.MethodGet, path: req.URL.Path, status: resp.StatusCode, body: strings.TrimSpace(string(body[:min(len(body), maxErrorBody)]))}
	}
	return body, resp.Header.Get("X-Cache"), nil
}

// cacheStatusError is a 200 served another way than expected (a MISS where
// a HIT was due).
type cacheStatusError struct {
	path, want, got string
}

func (e *cacheStatusError) Error() string {
	return fmt.Sprintf("GET %s: X-Cache %q, want %q", e.path, e.got, e.want)
}

func (e *cacheStatusError) kind() string { return "X-Cache " + e.got }

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/orderflow/orderflow/adapters/jwt"
	"github.com/orderflow/orderflow/app"
)

// process is one of OrderFlow's binaries running as a separate process, as
// in production: its CPU and memory are its own, not the load generator's.
type process struct {
	name string
	cmd  *exec.Cmd
	// URL is the process's HTTP server (the API, or the ops server of the
	// relay and projector); "" when it serves none.
	URL  string
	done chan struct{}
	err  error // cmd.Wait's result once done is closed
	// Started is when it was started; Startup is the time from exec to the
	// first 200 from /readyz, once waitReady saw it.
	Started time.Time
	Startup time.Duration
	// peakKiB is the highest VmHWM sampled so far.
	peakKiB atomic.Int64
	// stderr keeps the end of what the process wrote to its standard error,
	// for the message when it fails.
	stderr *tailWriter
}

// tailWriter passes writes on and keeps the last few hundred bytes.
type tailWriter struct {
	mu   sync.Mutex
	next io.Writer
	tail []byte
}

const tailBytes = 400

func (t *tailWriter) Write(b []byte) (int, error) {
	t.mu.Lock()
	t.tail = append(t.tail, b...)
	if len(t.tail) > tailBytes {
		t.tail = append(t.tail[:0], t.tail[len(t.tail)-tailBytes:]...)
	}
	t.mu.Unlock()
	return t.next.Write(b)
}

// last is the last non-empty line written.
func (t *tailWriter) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.tail)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// processSpec says how to start a process.
type processSpec struct {
	// bin is the binary's name: orderflow-api, orderflow-relay, orderflow-projector.
	bin  string
	args []string
	// env is added to ours and to baseSettings; later entries win.
	env []string
	// addrEnv names the variable that receives a free loopback address for
	// the process's HTTP server; "" when it serves none.
	addrEnv string
	// stdout receives the process's standard output (default: our stderr,
	// with its logs).
	stdout io.Writer
	// noWait returns right after the start; call waitReady to wait.
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

// startProcess starts a binary and, unless spec.noWait, waits until its
// /readyz answers 200.
func startProcess(ctx context.Context, e *env, spec processSpec) (*process, error) {
	bin, err := e.binary(spec.bin)
	if err != nil {
		return nil, err
	}
	label := spec.label
	if label == "" {
		label = spec.bin
	}
	cmd := exec.Command(bin, spec.args...)
	// Later entries win: our settings override any inherited ORDERFLOW_*.
	cmd.Env = append(append(os.Environ(), baseSettings(e)...), spec.env...)
	url := ""
	if spec.addrEnv != "" {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		cmd.Env = append(cmd.Env, spec.addrEnv+"="+addr)
		url = "http://" + addr
	}
	stderr := &tailWriter{next: e.stderr}
	cmd.Stdout, cmd.Stderr = e.stderr, stderr
	if spec.stdout != nil {
		cmd.Stdout = spec.stdout
	}
	// Should the benchmark die without stopping it, the process gets SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	p := &process{name: label, cmd: cmd, URL: url, done: make(chan struct{}), Started: time.Now(), stderr: stderr}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	go p.sampleRSS()
	if spec.noWait || url == "" {
		return p, nil
	}
	if err := p.waitReady(ctx, e.cfg.ReadyTimeout); err != nil {
		return nil, errors.Join(err, p.stop())
	}
	return p, nil
}

// waitReady polls /readyz until it answers 200 and records the start-up time.
func (p *process) waitReady(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if p.ready(ctx, client) {
			p.Startup = time.Since(p.Started)
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v", p.name, p.err)
		case <-deadline.C:
			return fmt.Errorf("%s not ready within %s", p.name, timeout)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (p *process) ready(ctx context.Context, client *http.Client) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// wait waits for a one-shot command to exit and reports a failure.
func (p *process) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.exitError()
	case <-ctx.Done():
		return errors.Join(ctx.Err(), p.stop())
	}
}

// stop sends SIGTERM, waits for the graceful exit (killing the process
// after 30 s) and reports an unclean exit. Stopping twice is harmless.
func (p *process) stop() error {
	select {
	case <-p.done:
		return p.exitError()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitError()
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 30s of SIGTERM; killed", p.name)
	}
}

func (p *process) exitError() error {
	if p.err == nil {
		return nil
	}
	if last := p.stderr.last(); last != "" {
		return fmt.Errorf("%s: %w; its last words: %s", p.name, p.err, last)
	}
	return fmt.Errorf("%s: %w", p.name, p.err)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; Linux fixes it at 100.
const clockTicks = 100

// CPU is the process's CPU time so far (user + system), from /proc.
func (p *process) CPU() (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// rssSampling is how often a process's high-water mark is read: the kernel
// drops it when the process exits, and the child's own resource usage would
// count our memory, which it shared until exec.
const rssSampling = 20 * time.Millisecond

// sampleRSS records the process's VmHWM until it exits.
func (p *process) sampleRSS() {
	t := time.NewTicker(rssSampling)
	defer t.Stop()
	for {
		if kib, err := p.readHWM(); err == nil {
			p.peakKiB.Store(max(p.peakKiB.Load(), kib))
		}
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
}

// readHWM reads the process's peak resident set size (VmHWM) in KiB from /proc.
func (p *process) readHWM() (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) == 2 && f[1] == "kB" {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// PeakRSS is the process's peak resident set size in MiB, read from /proc
// (VmHWM) while it runs and sampled every 20 ms until it exited.
func (p *process) PeakRSS() (float64, error) {
	kib := p.peakKiB.Load()
	select {
	case <-p.done:
	default:
		now, err := p.readHWM()
		if err != nil {
			return 0, err
		}
		kib = max(kib, now)
	}
	if kib == 0 {
		return 0, fmt.Errorf("%s: no memory figure was read", p.name)
	}
	return float64(kib) / 1024, nil
}

// startAPI starts `orderflow-api serve` on a free loopback port and waits
// until /readyz answers 200; env is added to its settings (ORDERFLOW_CACHE=false).
func startAPI(ctx context.Context, e *env, label string, env ...string) (*process, error) {
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

// freeLoopbackAddr finds a free loopback port. Another process could take it
// before the process under test binds it; that process then exits and
// startProcess reports that.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &httpError{method: http.MethodGet, path: req.URL.Path, status: resp.StatusCode, body: strings.TrimSpace(string(body[:min(len(body), maxErrorBody)]))}
	}
	return body, nil
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

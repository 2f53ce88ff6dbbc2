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
	"syscall"
	"time"
)

// apiProcess is orderflow-api running as a separate process, as in
// production: its CPU and memory are its own, not the load generator's.
type apiProcess struct {
	cmd  *exec.Cmd
	URL  string
	done chan struct{}
	err  error // cmd.Wait's result once done is closed
	// Startup is the time from exec to the first 200 from /readyz.
	Startup time.Duration
}

// apiSettings is the environment the API under test runs with, on top of
// ours. Auth and rate limits are off: the benchmark measures the write path.
func apiSettings(e *env, addr string) []string {
	return []string{
		"ORDERFLOW_DATABASE_URL=" + e.db.url,
		"ORDERFLOW_DATABASE_CONNS=" + strconv.Itoa(e.cfg.DatabaseConns),
		"ORDERFLOW_REDIS_URL=" + e.cfg.RedisURL,
		"ORDERFLOW_HTTP_ADDR=" + addr,
		"ORDERFLOW_LOG_LEVEL=warn",
		"ORDERFLOW_AUTH=off",
		"ORDERFLOW_RATE_LIMIT=0",
	}
}

// startAPI starts `orderflow-api serve` on a free loopback port and waits
// until /readyz answers 200. Its logs go to e.stderr.
func startAPI(ctx context.Context, e *env) (*apiProcess, error) {
	bin, err := e.apiBin()
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	// Later entries win: our settings override any inherited ORDERFLOW_*.
	cmd.Env = append(os.Environ(), apiSettings(e, addr)...)
	cmd.Stdout, cmd.Stderr = e.stderr, e.stderr
	// Should the benchmark die without stopping it, the API gets SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	a := &apiProcess{cmd: cmd, URL: "http://" + addr, done: make(chan struct{})}
	go func() { a.err = cmd.Wait(); close(a.done) }()

	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.NewTimer(e.cfg.ReadyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if a.ready(ctx, client) {
			a.Startup = time.Since(start)
			return a, nil
		}
		select {
		case <-a.done:
			return nil, fmt.Errorf("orderflow-api exited before it was ready: %v", a.err)
		case <-deadline.C:
			return nil, errors.Join(fmt.Errorf("orderflow-api not ready within %s", e.cfg.ReadyTimeout), a.stop())
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), a.stop())
		case <-tick.C:
		}
	}
}

func (a *apiProcess) ready(ctx context.Context, client *http.Client) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"/readyz", nil)
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

// stop sends SIGTERM, waits for the graceful exit (killing the process
// after 30 s) and reports an unclean exit. Stopping twice is harmless.
func (a *apiProcess) stop() error {
	select {
	case <-a.done:
		return a.exitError()
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		return a.exitError()
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
		return errors.New("orderflow-api did not stop within 30s of SIGTERM; killed")
	}
}

func (a *apiProcess) exitError() error {
	if a.err != nil {
		return fmt.Errorf("orderflow-api: %w", a.err)
	}
	return nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; Linux fixes it at 100.
const clockTicks = 100

// CPU is the process's CPU time so far (user + system), from /proc.
func (a *apiProcess) CPU() (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", a.cmd.Process.Pid))
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

// PeakRSS is the process's peak resident set size in MiB (VmHWM), from /proc.
func (a *apiProcess) PeakRSS() (float64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseFloat(f[0], 64)
				return kb / 1024, err
			}
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// freeLoopbackAddr finds a free loopback port. Another process could take it
// before the API binds it; the API then exits and startAPI reports that.
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		_, _ = io.Copy(io.Discard, resp.Body)
		return &httpError{method: http.MethodPost, path: path, status: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("POST %s: decode answer: %w", path, err)
		}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

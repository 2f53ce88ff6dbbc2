package systemtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is one OrderFlow binary run as a real process. It keeps its
// settings, so Restart starts the same program on the same address after a
// Kill, the way a supervisor would.
type Process struct {
	Name string
	// Addr is the loopback address of the process's HTTP server (the API, or
	// the ops server of the relay and the projector).
	Addr string

	path string
	args []string
	env  []string
	log  *logFile

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// NewProcess prepares (does not start) path with args and settings, which
// replace every ORDERFLOW_ variable of this process's environment. Output
// goes to logDir/name.log.
func NewProcess(name, addr, path string, args []string, settings map[string]string, logDir string) (*Process, error) {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ORDERFLOW_") {
			env = append(env, kv)
		}
	}
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	lf, err := newLogFile(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	return &Process{Name: name, Addr: addr, path: path, args: args, env: env, log: lf}, nil
}

// Start runs the process; it does not wait for it to be ready.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.exited:
		default:
			return fmt.Errorf("%s: already running", p.Name)
		}
	}
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.log, p.log
	fmt.Fprintf(p.log, "--- systemtest: start %s at %s\n", p.Name, time.Now().UTC().Format(time.RFC3339Nano))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.cmd, p.exited = cmd, exited
	return nil
}

// Running reports whether the process was started and has not exited.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Kill ends the process with SIGKILL (no shutdown code runs) and waits until
// it is gone. Killing a process that is not running does nothing.
func (p *Process) Kill() {
	p.signal(syscall.SIGKILL, 0)
}

// Stop ends the process with SIGTERM and waits up to timeout for it to
// drain, then kills it. It reports an unclean exit.
func (p *Process) Stop(timeout time.Duration) error {
	return p.signal(syscall.SIGTERM, timeout)
}

func (p *Process) signal(sig syscall.Signal, timeout time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	_ = cmd.Process.Signal(sig)
	if sig == syscall.SIGKILL {
		<-exited
		fmt.Fprintf(p.log, "--- systemtest: killed %s (SIGKILL) at %s\n", p.Name, time.Now().UTC().Format(time.RFC3339Nano))
		return nil
	}
	select {
	case <-exited:
		if !cmd.ProcessState.Success() {
			return fmt.Errorf("%s exited with %v after %v", p.Name, cmd.ProcessState, sig)
		}
		return nil
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%s did not stop within %s of %v", p.Name, timeout, sig)
	}
}

// Restart kills the process if it runs and starts it again.
func (p *Process) Restart() error {
	p.Kill()
	return p.Start()
}

// URL is the base URL of the process's HTTP server.
func (p *Process) URL() string { return "http://" + p.Addr }

// WaitReady polls GET /readyz until it answers 200; it fails when the
// process exits or timeout passes.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if !p.Running() {
			return fmt.Errorf("%s exited before it was ready:\n%s", p.Name, p.Tail(30))
		}
		if status, err := get(ctx, client, p.URL()+"/readyz"); err == nil && status == http.StatusOK {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s:\n%s", p.Name, timeout, p.Tail(30))
		case <-time.After(50 * time.Millisecond): // poll interval
		}
	}
}

func get(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// Tail is the last n lines of the process's output.
func (p *Process) Tail(n int) string { return p.log.tail(n) }

// Raced reports whether the race detector reported a data race in any run.
func (p *Process) Raced() bool { return p.log.raced() }

// LogPath is the file holding every run's output.
func (p *Process) LogPath() string { return p.log.path }

// FreeAddr returns a loopback address no one listens on now. A process
// started on it keeps it across restarts.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// logFile appends a process's output to a file and remembers its tail and
// whether the race detector spoke.
type logFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
	last []byte
	race bool
}

const tailBytes = 64 << 10

func newLogFile(path string) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return &logFile{path: path, f: f}, nil
}

func (l *logFile) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = append(l.last, b...)
	if bytes.Contains(l.last, []byte("WARNING: DATA RACE")) {
		l.race = true
	}
	if len(l.last) > tailBytes {
		l.last = append(l.last[:0], l.last[len(l.last)-tailBytes/2:]...)
	}
	if _, err := l.f.Write(b); err != nil && !errors.Is(err, os.ErrClosed) {
		return 0, err
	}
	return len(b), nil
}

func (l *logFile) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimRight(string(l.last), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (l *logFile) raced() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.race
}

// Metric reads one unlabelled sample from the process's /metrics.
func (p *Process) Metric(ctx context.Context, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s: metric %s not found", p.Name, name)
}

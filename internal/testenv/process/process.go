package process

// One concept, a child process of a test or the bench: start, readiness,
// logs, signals, restart and stop. Its length is the care a process needs (waiting on
// conditions, never sleeping; keeping the log for failures); splitting it
// would spread one lifecycle over files.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Spec says how to run one program.
type Spec struct {
	// Name names the process in messages (default: the base name of Path).
	Name string
	Path string
	Args []string
	// Settings are the program's ORDERFLOW_ variables. They replace every
	// ORDERFLOW_ variable of this process's environment, so a setting of
	// the shell running the tests cannot leak in, unless InheritSettings
	// is set; a setting always wins over an inherited one.
	Settings        map[string]string
	InheritSettings bool
	// AddrEnv names the setting that receives the program's HTTP address
	// (the API, or the ops server of the relay and the projector): Addr,
	// or when Addr is empty a free loopback address chosen by New. A
	// restart keeps the address. "" when the program serves no HTTP, or
	// takes Addr in its arguments (redis-server).
	AddrEnv string
	Addr    string
	// Output receives the program's standard output and error as they
	// come, besides the Process's own LogSink (nil: the sink only).
	Output io.Writer
	// Stdout, when set, receives the standard output instead: the sink
	// and Output then see the standard error only.
	Stdout io.Writer
	// LogFile, when set, receives the whole output of every run, appended,
	// with a line marking each start and kill.
	LogFile string
	// DieWithParent has the kernel send the program SIGTERM should this
	// process die without stopping it.
	DieWithParent bool
}

// Process is one program run as a real process. It keeps its Spec, so
// Restart starts the same program on the same address after a Kill, the
// way a supervisor would. Its methods are safe for concurrent use.
type Process struct {
	Name string
	// Addr is the loopback address of the process's HTTP server, "" when
	// it serves none.
	Addr string

	spec Spec
	env  []string
	log  *LogSink
	file *os.File

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // cmd.Wait's result once done is closed
	code    int   // the exit code once done is closed
	started time.Time
	startup time.Duration
	peakKiB atomic.Int64
}

// New prepares (does not start) the program of spec.
func New(spec Spec) (*Process, error) {
	if spec.Name == "" {
		spec.Name = spec.Path[strings.LastIndexByte(spec.Path, os.PathSeparator)+1:]
	}
	p := &Process{Name: spec.Name, spec: spec, log: NewLogSink(0)}
	settings := maps.Clone(spec.Settings)
	if settings == nil {
		settings = map[string]string{}
	}
	p.Addr = spec.Addr
	if spec.AddrEnv != "" {
		if p.Addr == "" {
			addr, err := FreeAddr()
			if err != nil {
				return nil, err
			}
			p.Addr = addr
		}
		settings[spec.AddrEnv] = p.Addr
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, set := settings[k]; set {
			continue
		}
		if spec.InheritSettings || !strings.HasPrefix(k, "ORDERFLOW_") {
			p.env = append(p.env, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		p.env = append(p.env, k+"="+settings[k])
	}
	if spec.LogFile != "" {
		f, err := os.OpenFile(spec.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("%s: log file: %w", p.Name, err)
		}
		p.file = f
	}
	return p, nil
}

// Start runs the process; it does not wait for it to be ready.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s: already running", p.Name)
		}
	}
	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	cmd.Env = p.env
	out := p.output()
	cmd.Stdout, cmd.Stderr = out, out
	if p.spec.Stdout != nil {
		cmd.Stdout = p.spec.Stdout
	}
	if p.spec.DieWithParent {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	}
	p.mark("start")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.started, p.startup, p.err, p.code = cmd, done, time.Now(), 0, nil, -1
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err, p.code = err, cmd.ProcessState.ExitCode()
		p.mu.Unlock()
		close(done)
	}()
	go p.sampleRSS(cmd.Process.Pid, done)
	return nil
}

// output is where the program's output goes: the sink, and Output and the
// log file when there are.
func (p *Process) output() io.Writer {
	ws := []io.Writer{p.log}
	if p.spec.Output != nil {
		ws = append(ws, p.spec.Output)
	}
	if p.file != nil {
		ws = append(ws, fileWriter{p.file})
	}
	if len(ws) == 1 {
		return p.log
	}
	return io.MultiWriter(ws...)
}

// fileWriter ignores writes after the file was closed, so a program still
// writing cannot break the other writers of a MultiWriter.
type fileWriter struct{ f *os.File }

func (w fileWriter) Write(b []byte) (int, error) {
	if _, err := w.f.Write(b); err != nil && !errors.Is(err, os.ErrClosed) {
		return 0, err
	}
	return len(b), nil
}

// mark writes a line about the process's life into its log file.
func (p *Process) mark(what string) {
	if p.file != nil {
		fmt.Fprintf(p.file, "--- process: %s %s at %s\n", what, p.Name, time.Now().UTC().Format(time.RFC3339Nano))
	}
}

// current is the running (or last) command and its exit channel.
func (p *Process) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

// Done is closed when the current run exits (nil before the first start).
func (p *Process) Done() <-chan struct{} {
	_, done := p.current()
	return done
}

// Running reports whether the process was started and has not exited.
func (p *Process) Running() bool {
	cmd, done := p.current()
	if cmd == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Kill ends the process with SIGKILL (no shutdown code runs) and waits until
// it is gone. Killing a process that is not running does nothing.
func (p *Process) Kill() {
	_ = p.signal(syscall.SIGKILL, 0)
}

// Stop ends the process with SIGTERM and waits up to timeout for it to
// drain, then kills it. It reports an unclean exit, with the program's last
// words. Stopping a process that is not running reports how it exited.
func (p *Process) Stop(timeout time.Duration) error {
	return p.signal(syscall.SIGTERM, timeout)
}

func (p *Process) signal(sig syscall.Signal, timeout time.Duration) error {
	cmd, done := p.current()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		if sig == syscall.SIGKILL {
			return nil
		}
		return p.exitError()
	default:
	}
	_ = cmd.Process.Signal(sig)
	if sig == syscall.SIGKILL {
		<-done
		p.mark("killed (SIGKILL)")
		return nil
	}
	select {
	case <-done:
		if err := p.exitError(); err != nil {
			return fmt.Errorf("after %v: %w", sig, err)
		}
		return nil
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not stop within %s of %v; killed", p.Name, timeout, sig)
	}
}

// Restart kills the process if it runs and starts it again.
func (p *Process) Restart() error {
	p.Kill()
	return p.Start()
}

// Close stops a process still running (SIGKILL) and closes its log file.
func (p *Process) Close() error {
	p.Kill()
	if p.file != nil {
		return p.file.Close()
	}
	return nil
}

// Wait waits for a one-shot command to exit and reports a failure; when
// ctx ends first it stops the command (SIGTERM, 30 s to drain).
func (p *Process) Wait(ctx context.Context) error {
	_, done := p.current()
	select {
	case <-done:
		return p.exitError()
	case <-ctx.Done():
		return errors.Join(ctx.Err(), p.Stop(30*time.Second))
	}
}

// ExitCode is the exit code of the last run, -1 while it runs or when a
// signal ended it.
func (p *Process) ExitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return -1
	}
	return p.code
}

// Err is how the last run ended, with the program's last words: nil while
// it runs and after a clean exit.
func (p *Process) Err() error {
	if p.Running() {
		return nil
	}
	return p.exitError()
}

func (p *Process) exitError() error {
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	if err == nil {
		return nil
	}
	if last := p.log.Last(); last != "" {
		return fmt.Errorf("%s: %w; its last words: %s", p.Name, err, last)
	}
	return fmt.Errorf("%s: %w", p.Name, err)
}

// URL is the base URL of the process's HTTP server.
func (p *Process) URL() string { return "http://" + p.Addr }

// readyPoll is how often WaitReady asks /readyz: often enough that the
// benchmark's start-up time is exact to a few milliseconds.
const readyPoll = 5 * time.Millisecond

// WaitReady polls GET /readyz until it answers 200 and records the time
// from the start (Startup); it fails when the process exits, ctx ends or
// timeout passes.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, done := p.current()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	for {
		if status, err := get(ctx, client, p.URL()+"/readyz"); err == nil && status == http.StatusOK {
			p.mu.Lock()
			p.startup = time.Since(p.started)
			p.mu.Unlock()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited before it was ready: %v\n%s", p.Name, p.exitError(), p.Tail(30))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s: %w\n%s", p.Name, timeout, ctx.Err(), p.Tail(30))
		case <-tick.C:
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

// Started is when the current run was started.
func (p *Process) Started() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

// Startup is the time from the start to the first 200 from /readyz, once
// WaitReady saw it.
func (p *Process) Startup() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startup
}

// Logs is the process's output as its LogSink kept it.
func (p *Process) Logs() *LogSink { return p.log }

// Tail is the last n lines of the process's output.
func (p *Process) Tail(n int) string { return p.log.Tail(n) }

// Raced reports whether the race detector reported a data race in any run.
func (p *Process) Raced() bool { return p.log.Raced() }

// LogPath is the file holding every run's output ("" without one).
func (p *Process) LogPath() string { return p.spec.LogFile }

// FreeAddr returns a loopback address no one listens on now. Another
// process could take it before the program binds it; the program then exits
// and WaitReady reports that.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Metric reads one unlabelled sample from the process's /metrics.
func (p *Process) Metric(ctx context.Context, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
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

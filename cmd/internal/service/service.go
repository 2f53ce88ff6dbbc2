package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Flags is a flag set whose defaults come from environment variables, so
// every setting has one name in each world: ORDERFLOW_HTTP_ADDR and --http-addr.
type Flags struct {
	*flag.FlagSet
	lookupEnv func(string) (string, bool)
	envErrs   []error
}

// NewFlags returns an empty set for the named command; lookupEnv is usually os.LookupEnv.
func NewFlags(name string, lookupEnv func(string) (string, bool)) *Flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return &Flags{FlagSet: fs, lookupEnv: lookupEnv}
}

// EnvName is the environment variable behind a flag: ORDERFLOW_ plus the
// flag's name in upper snake case.
func EnvName(flagName string) string {
	return "ORDERFLOW_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Explain makes --help print intro, then every flag with its environment
// variable and default, to w; parse errors go to w too.
func (f *Flags) Explain(w io.Writer, intro string) {
	f.SetOutput(w)
	f.Usage = func() {
		fmt.Fprint(w, intro)
		f.PrintDefaults()
	}
}

func (f *Flags) usage(name, usage string) string {
	return fmt.Sprintf("%s (env %s)", usage, EnvName(name))
}

// String defines a string setting.
func (f *Flags) String(p *string, name, def, usage string) {
	if v, ok := f.lookupEnv(EnvName(name)); ok {
		def = v
	}
	f.StringVar(p, name, def, f.usage(name, usage))
}

// Int defines an integer setting.
func (f *Flags) Int(p *int, name string, def int, usage string) {
	if v, ok := f.lookupEnv(EnvName(name)); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.envErrs = append(f.envErrs, fmt.Errorf("%s=%q: not an integer", EnvName(name), v))
		} else {
			def = n
		}
	}
	f.IntVar(p, name, def, f.usage(name, usage))
}

// Bool defines a boolean setting.
func (f *Flags) Bool(p *bool, name string, def bool, usage string) {
	if v, ok := f.lookupEnv(EnvName(name)); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.envErrs = append(f.envErrs, fmt.Errorf("%s=%q: not a boolean", EnvName(name), v))
		} else {
			def = b
		}
	}
	f.BoolVar(p, name, def, f.usage(name, usage))
}

// Duration defines a duration setting such as 15s.
func (f *Flags) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	if v, ok := f.lookupEnv(EnvName(name)); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.envErrs = append(f.envErrs, fmt.Errorf("%s=%q: not a duration", EnvName(name), v))
		} else {
			def = d
		}
	}
	f.DurationVar(p, name, def, f.usage(name, usage))
}

// Parse parses args; a malformed environment variable is an error too.
// flag.ErrHelp is returned after the usage was printed for -h/--help.
func (f *Flags) Parse(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		return err
	}
	return errors.Join(f.envErrs...)
}

// Logging is the log settings every binary shares.
type Logging struct {
	Format string
	Level  string
}

// Register adds the log settings to fs.
func (l *Logging) Register(fs *Flags) {
	fs.String(&l.Format, "log-format", "text", "log format: text or json")
	fs.String(&l.Level, "log-level", "info", "log level: debug, info, warn or error")
}

// NewLogger builds the structured logger the settings describe.
func (l Logging) NewLogger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", l.Level, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.Format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("log format %q: want text or json", l.Format)
	}
}

// HTTPTimeouts bound each phase of a connection, so that slow or stalled
// clients (slowloris) cannot hold connections and goroutines forever.
type HTTPTimeouts struct {
	// ReadHeader is the time to read a request's headers.
	ReadHeader time.Duration
	// Read is the time to read a whole request, body included.
	Read time.Duration
	// Write is the time from the end of the request's headers to the end
	// of the response.
	Write time.Duration
	// Idle is how long a keep-alive connection may wait for its next request.
	Idle time.Duration
}

// DefaultHTTPTimeouts suit a JSON API whose bodies are at most 1 MiB and
// whose requests take milliseconds: generous for slow networks, short
// enough that a stalled client lets go within a minute.
func DefaultHTTPTimeouts() HTTPTimeouts {
	return HTTPTimeouts{ReadHeader: 5 * time.Second, Read: 30 * time.Second, Write: 30 * time.Second, Idle: 120 * time.Second}
}

// Register adds the timeout settings to fs, with DefaultHTTPTimeouts.
func (t *HTTPTimeouts) Register(fs *Flags) {
	def := DefaultHTTPTimeouts()
	fs.Duration(&t.ReadHeader, "http-read-header-timeout", def.ReadHeader, "time a client has to send a request's headers")
	fs.Duration(&t.Read, "http-read-timeout", def.Read, "time a client has to send a whole request, body included")
	fs.Duration(&t.Write, "http-write-timeout", def.Write, "time from the end of a request's headers to the end of its response")
	fs.Duration(&t.Idle, "http-idle-timeout", def.Idle, "how long a keep-alive connection may wait for its next request")
}

// Validate reports a timeout that is not positive: zero would mean none.
func (t HTTPTimeouts) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"http-read-header-timeout", t.ReadHeader}, {"http-read-timeout", t.Read}, {"http-write-timeout", t.Write}, {"http-idle-timeout", t.Idle}} {
		if d.d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", d.name))
		}
	}
	return errors.Join(errs...)
}

// ListenAndServeWith serves handler on addr until ctx ends, then stops
// accepting, lets in-flight requests finish within drain, and returns.
// ready, when not nil, receives the bound address once the listener is open
// (addr may end in :0).
func ListenAndServeWith(ctx context.Context, logger *slog.Logger, addr string, handler http.Handler, drain time.Duration, timeouts HTTPTimeouts, ready func(net.Addr)) error {
	srv, err := Listen(logger, addr, handler, timeouts)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(srv.Addr())
	}
	return srv.Serve(ctx, drain)
}

// Server is an HTTP server whose listener is open: a taken address fails
// Listen, before the binary starts its work.
type Server struct {
	logger *slog.Logger
	ln     net.Listener
	srv    *http.Server
}

// Listen opens addr for handler, bounding each phase of a connection by timeouts.
func Listen(logger *slog.Logger, addr string, handler http.Handler, timeouts HTTPTimeouts) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	logger.Info("listening", "addr", ln.Addr().String())
	return &Server{logger: logger, ln: ln, srv: &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: timeouts.ReadHeader,
		ReadTimeout:       timeouts.Read,
		WriteTimeout:      timeouts.Write,
		IdleTimeout:       timeouts.Idle,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}}, nil
}

// Addr is the bound address (Listen's addr may end in :0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until ctx ends, then stops accepting, lets in-flight
// requests finish within drain, and returns.
func (s *Server) Serve(ctx context.Context, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.logger.Info("draining", "timeout", drain)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	if err := s.srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	s.logger.Info("stopped")
	return nil
}

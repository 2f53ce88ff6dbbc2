package service

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// ProbeCommand is the name of the subcommand every binary answers with
// Probe: container images built FROM distroless have no shell, curl or wget,
// so a healthcheck runs the binary itself (`orderflow-api probe URL`).
const ProbeCommand = "probe"

// probeTimeout bounds the whole probe; a healthcheck's own timeout may be
// longer, but a probe that waits past it only delays the verdict.
const probeTimeout = 3 * time.Second

// RunProbe handles `<binary> probe URL`: ok is false when args are not a
// probe command, so main goes on with its own commands; otherwise code is
// the process exit code, 0 when URL answered 2xx.
func RunProbe(ctx context.Context, args []string, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 || args[0] != ProbeCommand {
		return 0, false
	}
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: probe URL   (exit 0 when a GET of URL answers 2xx, e.g. http://127.0.0.1:8080/readyz)")
		return 2, true
	}
	if err := Probe(ctx, args[1]); err != nil {
		fmt.Fprintln(stderr, "probe:", err)
		return 1, true
	}
	return 0, true
}

// Probe GETs rawURL and returns nil when it answers 2xx within probeTimeout.
func Probe(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http URL", rawURL)
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("request %s: %w", rawURL, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: %s", rawURL, resp.Status)
	}
	return nil
}

package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// Client calls the API through a list of instances, alternating between
// them request by request, and counts every answer by status.
type Client struct {
	Targets []string // base URLs, e.g. http://127.0.0.1:8080
	Token   string   // admin bearer token, sent on every non-anonymous route
	HTTP    *http.Client
	Stats   *Stats

	next atomic.Uint64
}

// NewClient returns a client of targets with a pooled transport.
func NewClient(token string, targets ...string) *Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	return &Client{
		Targets: targets, Token: token,
		HTTP:  &http.Client{Transport: t, Timeout: 10 * time.Second},
		Stats: NewStats(),
	}
}

// Response is one answer: its status (0 when the request failed before one
// came), headers and body.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	Err    error // transport error, when Status is 0
}

// Decode unmarshals the body into v.
func (r Response) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode %d answer %q: %w", r.Status, r.Body, err)
	}
	return nil
}

// Target returns the base URL of the next instance in turn.
func (c *Client) Target() string {
	return c.Targets[int(c.next.Add(1)-1)%len(c.Targets)]
}

// Do sends one request to the next instance in turn; see DoAt.
func (c *Client) Do(ctx context.Context, method, path string, body any, auth bool, header ...string) Response {
	return c.DoAt(ctx, c.Target(), method, path, body, auth, header...)
}

// DoAt sends one request to base: body (when not nil) as JSON, the admin
// token when auth is set, header as name/value pairs. The answer is counted
// in Stats.
func (c *Client) DoAt(ctx context.Context, base, method, path string, body any, auth bool, header ...string) Response {
	r := c.do(ctx, base, method, path, body, auth, header)
	switch {
	case r.Status == 0 && ctx.Err() != nil:
		// The caller gave up (the load paused, or it abandoned the
		// request on purpose): not the system's failure.
	case r.Status == 0:
		c.Stats.Failed(0, fmt.Sprintf("%s %s%s: %v", method, base, path, r.Err))
	case r.Status >= 500:
		c.Stats.Failed(r.Status, fmt.Sprintf("%s %s%s: HTTP %d: %.300s", method, base, path, r.Status, r.Body))
	default:
		c.Stats.Add(r.Status)
	}
	return r
}

func (c *Client) do(ctx context.Context, base, method, path string, body any, auth bool, header []string) Response {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Response{Err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return Response{Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth && c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Response{Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{Err: fmt.Errorf("%s %s: read answer: %w", method, path, err)}
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

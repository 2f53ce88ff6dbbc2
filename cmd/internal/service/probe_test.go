package service

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRunProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.WriteHeader(http.StatusOK)
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		ok       bool
		mentions string
	}{
		{"not a probe", []string{"serve", "--http-addr=:0"}, 0, false, ""},
		{"no args", nil, 0, false, ""},
		{"ready", []string{"probe", srv.URL + "/readyz"}, 0, true, ""},
		{"503", []string{"probe", srv.URL + "/down"}, 1, true, "503"},
		{"404", []string{"probe", srv.URL + "/nothing"}, 1, true, "404"},
		{"refused", []string{"probe", closedURL + "/readyz"}, 1, true, "GET"},
		{"missing URL", []string{"probe"}, 2, true, "usage"},
		{"extra argument", []string{"probe", srv.URL, "x"}, 2, true, "usage"},
		{"not http", []string{"probe", "127.0.0.1:8080/readyz"}, 1, true, "not an http URL"},
	} {
		var stderr bytes.Buffer
		code, ok := RunProbe(context.Background(), tc.args, &stderr)
		if code != tc.code || ok != tc.ok {
			t.Errorf("%s: RunProbe(%q) = %d, %v; want %d, %v (stderr %q)", tc.name, tc.args, code, ok, tc.code, tc.ok, stderr.String())
		}
		if !strings.Contains(stderr.String(), tc.mentions) {
			t.Errorf("%s: stderr %q does not mention %q", tc.name, stderr.String(), tc.mentions)
		}
	}
}

package service

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// fakeMain records how Execute drove it.
type fakeMain struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	err            error
	ran            *[]string
}

func (m *fakeMain) Run(_ context.Context, args []string) error {
	*m.ran = args
	v, _ := m.lookupEnv("X")
	fmt.Fprint(m.stdout, "out:"+v)
	return m.err
}

func TestExecute(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	env := func(k string) (string, bool) { return map[string]string{"X": "y"}[k], k == "X" }

	for _, tc := range []struct {
		name       string
		args       []string
		err        error
		code       int
		ran        bool
		wantStdout string
		wantStderr string
	}{
		{"Success", []string{"serve", "--http-addr=:0"}, nil, 0, true, "out:y", ""},
		{"Help", []string{"--help"}, flag.ErrHelp, 0, true, "out:y", ""},
		{"WrappedHelp", []string{"token", "--help"}, fmt.Errorf("token: %w", flag.ErrHelp), 0, true, "out:y", ""},
		{"Error", []string{"migrate"}, errors.New("database URL is required"), 1, true, "out:y", "error: database URL is required\n"},
		{"Probe", []string{"probe", srv.URL}, nil, 0, false, "", ""},
		{"ProbeUsage", []string{"probe"}, nil, 2, false, "", "usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			var ran []string
			newMain := func(stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) *fakeMain {
				return &fakeMain{stdout: stdout, stderr: stderr, lookupEnv: lookupEnv, err: tc.err, ran: &ran}
			}
			code := Execute(context.Background(), newMain, tc.args, &stdout, &stderr, env)
			if code != tc.code {
				t.Errorf("code = %d, want %d (stderr %q)", code, tc.code, stderr.String())
			}
			if got := ran != nil; got != tc.ran {
				t.Errorf("ran = %v, want %v", got, tc.ran)
			} else if tc.ran && !slices.Equal(ran, tc.args) {
				t.Errorf("Run got args %q, want %q", ran, tc.args)
			}
			if got := stdout.String(); got != tc.wantStdout {
				t.Errorf("stdout = %q, want %q", got, tc.wantStdout)
			}
			if got := stderr.String(); !strings.Contains(got, tc.wantStderr) || (tc.wantStderr == "" && got != "") {
				t.Errorf("stderr = %q, want it to hold %q", got, tc.wantStderr)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/adapters/jwt"
	"github.com/orderflow/orderflow/app"
)

// testSecret signs the tokens of the API processes the tests start.
const testSecret = "orderflow-api-test-secret-0123456789"

// adminToken is a token the processes started with testSecret accept as admin.
func adminToken(t *testing.T) string {
	t.Helper()
	keys, err := jwt.NewKeys([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	token, err := keys.Mint(app.Principal{Subject: "test-admin", Role: app.RoleAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestTokenCommand: `orderflow-api token` prints one token, and only it,
// that the API's verifier accepts with the role and subject asked for.
func TestTokenCommand(t *testing.T) {
	keys, err := jwt.NewKeys([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		env  []string
		want app.Principal
	}{
		{"AdminFromEnv", []string{"token", "--role", "admin", "--sub", "ops"}, []string{"ORDERFLOW_JWT_SECRET", testSecret},
			app.Principal{Subject: "ops", Role: app.RoleAdmin}},
		{"CustomerFromFlag", []string{"token", "--role", "customer", "--sub", "0190c0de-0000-7000-8000-000000000001", "--ttl", "24h", "--jwt-secret", testSecret},
			[]string{"ORDERFLOW_JWT_SECRET", "some-other-secret-that-the-flag-overrides"},
			app.Principal{Subject: "0190c0de-0000-7000-8000-000000000001", Role: app.RoleCustomer}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			m := NewMain(&out, &errOut, envOf(tt.env...))
			if err := m.Run(context.Background(), tt.args); err != nil {
				t.Fatalf("token: %v; stderr %s", err, errOut.String())
			}
			token := strings.TrimSuffix(out.String(), "\n")
			if strings.ContainsAny(token, " \n") {
				t.Fatalf("stdout = %q, want the token alone", out.String())
			}
			got, err := keys.Verify(token)
			if err != nil || got != tt.want {
				t.Fatalf("Verify = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestTokenCommandRefuses: a token is minted only with a role, a subject, a
// sane time to live and a long enough secret, and errors never show the secret.
func TestTokenCommandRefuses(t *testing.T) {
	const short = "too-short-secret"
	for _, tt := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"NoSecret", []string{"--role", "admin", "--sub", "ops"}, nil, "ORDERFLOW_JWT_SECRET"},
		{"ShortSecret", []string{"--role", "admin", "--sub", "ops"}, []string{"ORDERFLOW_JWT_SECRET", short}, "at least 32 bytes"},
		{"NoRole", []string{"--sub", "ops"}, []string{"ORDERFLOW_JWT_SECRET", testSecret}, "--role"},
		{"UnknownRole", []string{"--role", "root", "--sub", "ops"}, []string{"ORDERFLOW_JWT_SECRET", testSecret}, "--role"},
		{"NoSubject", []string{"--role", "admin"}, []string{"ORDERFLOW_JWT_SECRET", testSecret}, "--sub"},
		{"NegativeTTL", []string{"--role", "admin", "--sub", "ops", "--ttl", "-1h"}, []string{"ORDERFLOW_JWT_SECRET", testSecret}, "--ttl"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			m := NewMain(&out, io.Discard, envOf(tt.env...))
			err := m.Run(context.Background(), append([]string{"token"}, tt.args...))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
			if strings.Contains(err.Error(), short) || strings.Contains(err.Error(), testSecret) || out.Len() > 0 {
				t.Fatalf("err %q / stdout %q shows the secret or a token", err, out.String())
			}
		})
	}
}

// TestServeNeedsSecret: serve refuses to start without a secret unless
// authentication is off; migrate and seed need none; --help never prints
// the secret.
func TestServeNeedsSecret(t *testing.T) {
	db := []string{"ORDERFLOW_DATABASE_URL", "postgres://127.0.0.1:1/x"}
	parse := func(args []string, env ...string) error {
		_, err := NewMain(io.Discard, io.Discard, envOf(append(env, db...)...)).ParseFlags(args)
		return err
	}
	if err := parse([]string{"serve"}); err == nil || !strings.Contains(err.Error(), "ORDERFLOW_JWT_SECRET") || !strings.Contains(err.Error(), "ORDERFLOW_AUTH=off") {
		t.Errorf("serve without a secret: %v, want a refusal naming ORDERFLOW_JWT_SECRET and ORDERFLOW_AUTH=off", err)
	}
	if err := parse([]string{"serve"}, "ORDERFLOW_JWT_SECRET", "short"); err == nil || strings.Contains(err.Error(), "short\"") {
		t.Errorf("serve with a short secret: %v", err)
	}
	if err := parse([]string{"serve"}, "ORDERFLOW_AUTH", "maybe"); err == nil || !strings.Contains(err.Error(), "want jwt or off") {
		t.Errorf("serve with ORDERFLOW_AUTH=maybe: %v", err)
	}
	for _, ok := range [][]string{
		{"serve", "ORDERFLOW_JWT_SECRET", testSecret},
		{"serve", "ORDERFLOW_AUTH", "off"},
		{"migrate"},
		{"seed"},
	} {
		if err := parse(ok[:1], ok[1:]...); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}

	var help bytes.Buffer
	m := NewMain(io.Discard, &help, envOf("ORDERFLOW_JWT_SECRET", testSecret))
	if _, err := m.ParseFlags([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if strings.Contains(help.String(), testSecret) || !strings.Contains(help.String(), "-jwt-secret") {
		t.Fatalf("--help shows the secret from the environment, or no -jwt-secret:\n%s", help.String())
	}
}

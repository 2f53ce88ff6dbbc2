package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/orderflow/orderflow/adapters/jwt"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/cmd/internal/service"
)

// TokenConfig is what `orderflow-api token` mints.
type TokenConfig struct {
	Role string
	Sub  string
	TTL  time.Duration
}

// maxTokenTTL bounds a minted token's life: a token cannot be revoked, only
// outlived, so a long-lived one must be a deliberate choice below this.
const maxTokenTTL = 366 * 24 * time.Hour

const tokenUsage = `orderflow-api token prints a bearer token for OrderFlow's API, signed with
the JWT secret the API verifies tokens with (HS256; claims sub, role, exp).

Usage:
  orderflow-api token --role admin --sub ops --ttl 1h
  orderflow-api token --role customer --sub <customer id> --ttl 24h

An admin may do anything, for any customer. A customer's subject is its
customer id: it may place, pay and cancel only its own orders and read only
its own profile, orders and summaries. Use the token as
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v1/...
Tokens cannot be revoked before they expire: keep the time to live short,
and change ORDERFLOW_JWT_SECRET to invalidate every token at once.

Flags:
`

// registerSecret adds --jwt-secret to fs and returns a function giving its
// value after parsing: the flag's, else ORDERFLOW_JWT_SECRET. Unlike the
// other settings, the environment does not become the flag's default, which
// --help would print.
func registerSecret(fs *service.Flags, lookupEnv func(string) (string, bool)) func() string {
	const name = "jwt-secret"
	var flagValue string
	fs.StringVar(&flagValue, name, "", fmt.Sprintf("secret (at least %d bytes) that signs and verifies bearer tokens; required with --auth=jwt; prefer the environment variable, which ps does not show (env %s)", jwt.MinSecretLength, service.EnvName(name)))
	return func() string {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
		if set {
			return flagValue
		}
		v, _ := lookupEnv(service.EnvName(name))
		return v
	}
}

// parseTokenFlags reads the token subcommand's settings: no database or
// Redis is involved.
func (m *Main) parseTokenFlags(args []string) error {
	fs := service.NewFlags("orderflow-api token", m.lookupEnv)
	fs.Explain(m.stderr, tokenUsage)
	c := &m.Config
	fs.StringVar(&c.Token.Role, "role", "", "role the token carries: admin or customer (required)")
	fs.StringVar(&c.Token.Sub, "sub", "", "subject: a customer's id, or any name for an admin (required)")
	fs.DurationVar(&c.Token.TTL, "ttl", time.Hour, "how long the token is valid")
	secret := registerSecret(fs, m.lookupEnv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	c.Auth, c.JWTSecret = authJWT, secret()
	var errs []error
	if !app.Role(c.Token.Role).Valid() {
		errs = append(errs, fmt.Errorf("--role %q: want admin or customer", c.Token.Role))
	}
	if c.Token.Sub == "" {
		errs = append(errs, errors.New("--sub is required: a customer's id, or a name for an admin"))
	}
	if c.Token.TTL <= 0 || c.Token.TTL > maxTokenTTL {
		errs = append(errs, fmt.Errorf("--ttl must be positive and at most %s", maxTokenTTL))
	}
	return errors.Join(append(errs, c.validateAuth())...)
}

// printToken writes the token, and nothing else, to stdout: made for $(...).
func (m *Main) printToken() error {
	keys, err := jwt.NewKeys([]byte(m.Config.JWTSecret))
	if err != nil {
		return err
	}
	token, err := keys.Mint(app.Principal{Subject: m.Config.Token.Sub, Role: app.Role(m.Config.Token.Role)}, m.Config.Token.TTL)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(m.stdout, token)
	return err
}

// tokenKeys returns what verifies the API's bearer tokens, or nil when
// authentication is off.
func (m *Main) tokenKeys() (app.TokenVerifier, error) {
	if m.Config.Auth == authOff {
		return nil, nil
	}
	keys, err := jwt.NewKeys([]byte(m.Config.JWTSecret))
	if err != nil {
		return nil, err
	}
	return keys, nil
}

package jwt

import (
	"errors"
	"fmt"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/orderflow/orderflow/app"
)

// MinSecretLength is the shortest accepted signing secret: HS256 keys should
// carry at least as many bytes as the hash.
const MinSecretLength = 32

// ErrInvalidToken means a token is malformed, expired, badly signed or
// carries claims OrderFlow does not accept.
var ErrInvalidToken = errors.New("invalid token")

// claims are the registered claims plus the role.
type claims struct {
	Role app.Role `json:"role"`
	gojwt.RegisteredClaims
}

// Keys signs and verifies tokens with one HS256 secret. Safe for concurrent use.
type Keys struct {
	secret []byte
	parser *gojwt.Parser
	now    func() time.Time
	macs   *macs
}

// NewKeys returns Keys over secret, which must be at least MinSecretLength bytes.
func NewKeys(secret []byte) (*Keys, error) {
	if len(secret) < MinSecretLength {
		return nil, fmt.Errorf("jwt: the secret must be at least %d bytes, got %d", MinSecretLength, len(secret))
	}
	k := &Keys{
		secret: append([]byte(nil), secret...),
		parser: gojwt.NewParser(
			gojwt.WithValidMethods([]string{gojwt.SigningMethodHS256.Alg()}),
			gojwt.WithExpirationRequired(),
		),
		now: time.Now,
	}
	k.macs = newMACs(k.secret)
	return k, nil
}

// Mint returns a signed token for p that expires after ttl.
func (k *Keys) Mint(p app.Principal, ttl time.Duration) (string, error) {
	if !p.Role.Valid() {
		return "", fmt.Errorf("jwt: unknown role %q", p.Role)
	}
	if p.Subject == "" {
		return "", errors.New("jwt: the subject is required")
	}
	if ttl <= 0 {
		return "", errors.New("jwt: the time to live must be positive")
	}
	now := k.now()
	c := claims{
		Role: p.Role,
		RegisteredClaims: gojwt.RegisteredClaims{
			Subject:   p.Subject,
			IssuedAt:  gojwt.NewNumericDate(now),
			ExpiresAt: gojwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return gojwt.NewWithClaims(gojwt.SigningMethodHS256, c).SignedString(k.secret)
}

// Verify checks token's signature, algorithm and expiry and returns its
// caller. Every failure wraps ErrInvalidToken.
func (k *Keys) Verify(token string) (app.Principal, error) {
	if p, handled, err := k.verifyMinted(token); handled {
		return p, err
	}
	return k.verifyParsed(token)
}

// verifyParsed verifies any token through the general parser.
func (k *Keys) verifyParsed(token string) (app.Principal, error) {
	var c claims
	if _, err := k.parser.ParseWithClaims(token, &c, func(*gojwt.Token) (any, error) { return k.secret, nil }); err != nil {
		return app.Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	p, _, err := k.principal(c.Subject, c.Role)
	return p, err
}

// principal checks the claims every valid token carries.
func (k *Keys) principal(subject string, role app.Role) (app.Principal, bool, error) {
	if !role.Valid() {
		return app.Principal{}, true, fmt.Errorf("%w: unknown role %q", ErrInvalidToken, role)
	}
	if subject == "" {
		return app.Principal{}, true, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	return app.Principal{Subject: subject, Role: role}, true, nil
}

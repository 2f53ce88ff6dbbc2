package jwt

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orderflow/orderflow/app"
)

// Every request is authenticated and no verification is ever cached, so
// verifying is on the path of every read: through the general parser it
// took 6–16 µs and 48 allocations (BenchmarkVerify), a large share of a cached GET's CPU.
// Tokens shaped exactly as Mint writes them (this header, only these
// claims) are verified here with the same rules in a fraction of that;
// anything else, valid or not, goes through the general parser, which
// stays the reference (TestMintedPathAgreesWithParser).

// mintedHeader is the header segment of every token Mint signs.
var mintedHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// mintedClaims are the claims Mint writes; a payload with any other member
// is left to the general parser.
type mintedClaims struct {
	Subject   string   `json:"sub"`
	Role      app.Role `json:"role"`
	ExpiresAt *float64 `json:"exp"`
	IssuedAt  *float64 `json:"iat"`
	NotBefore *float64 `json:"nbf"`
}

// macs reuses HMAC-SHA256 states keyed by the secret.
type macs struct{ pool sync.Pool }

func newMACs(secret []byte) *macs {
	return &macs{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, secret) }}}
}

// verifyMinted verifies a token shaped as Mint writes it. handled is false
// for any other shape: the caller then uses the general parser.
func (k *Keys) verifyMinted(token string) (p app.Principal, handled bool, err error) {
	head, rest, ok := strings.Cut(token, ".")
	if !ok || head != mintedHeader {
		return app.Principal{}, false, nil
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig, ".") {
		return app.Principal{}, false, nil
	}
	var got [sha256.Size]byte
	if n, err := base64.RawURLEncoding.Decode(got[:], []byte(sig)); err != nil || n != sha256.Size || len(sig) != base64.RawURLEncoding.EncodedLen(sha256.Size) {
		return app.Principal{}, false, nil
	}
	mac := k.macs.pool.Get().(hash.Hash)
	mac.Reset()
	mac.Write([]byte(token[:len(head)+1+len(payload)]))
	var want [sha256.Size]byte
	mac.Sum(want[:0])
	k.macs.pool.Put(mac)
	if !hmac.Equal(got[:], want[:]) {
		return app.Principal{}, true, fmt.Errorf("%w: signature is invalid", ErrInvalidToken)
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return app.Principal{}, false, nil
	}
	c, ok := mintedLayout(raw)
	if !ok {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil || dec.More() {
			return app.Principal{}, false, nil
		}
	}
	now := k.now()
	switch {
	case c.ExpiresAt == nil:
		return app.Principal{}, true, fmt.Errorf("%w: token is missing required claim: exp claim is required", ErrInvalidToken)
	case !now.Before(numericDate(*c.ExpiresAt)):
		return app.Principal{}, true, fmt.Errorf("%w: token is expired", ErrInvalidToken)
	case c.NotBefore != nil && now.Before(numericDate(*c.NotBefore)):
		return app.Principal{}, true, fmt.Errorf("%w: token is not valid yet", ErrInvalidToken)
	}
	return k.principal(c.Subject, c.Role)
}

// numericDate reads a NumericDate as the general parser does: whole seconds,
// the fraction dropped.
func numericDate(seconds float64) time.Time { return time.Unix(int64(seconds), 0) }

// mintedLayout reads claims laid out byte for byte as Mint's encoder writes
// them, {"role":"R","sub":"S","exp":E,"iat":I}, where R and S are printable
// ASCII without escapes and E and I are integers of at most 15 digits (exact
// as the float64 the JSON decoder would make of them). Decoding those four
// members with encoding/json was half of a verification's time. Any other
// text, even valid JSON of the same claims, is not read here: ok is false
// and the JSON decoder reads it (FuzzMintedLayoutAgreesWithJSON holds the
// two to the same claims).
func mintedLayout(raw []byte) (c mintedClaims, ok bool) {
	s := string(raw)
	var role, exp, iat string
	if role, s, ok = cutMember(s, `{"role":"`, isPlainString); !ok {
		return mintedClaims{}, false
	}
	if c.Subject, s, ok = cutMember(s, `","sub":"`, isPlainString); !ok {
		return mintedClaims{}, false
	}
	if exp, s, ok = cutMember(s, `","exp":`, isPlainInteger); !ok {
		return mintedClaims{}, false
	}
	if iat, s, ok = cutMember(s, `,"iat":`, isPlainInteger); !ok || s != "}" {
		return mintedClaims{}, false
	}
	e, err1 := strconv.ParseInt(exp, 10, 64)
	i, err2 := strconv.ParseInt(iat, 10, 64)
	if err1 != nil || err2 != nil {
		return mintedClaims{}, false
	}
	expF, iatF := float64(e), float64(i)
	c.Role, c.ExpiresAt, c.IssuedAt = app.Role(role), &expF, &iatF
	return c, true
}

// cutMember cuts prefix off s, then the longest run of bytes that keep
// accepts. It fails unless both are there.
func cutMember(s, prefix string, accepts func(string) int) (value, rest string, ok bool) {
	s, ok = strings.CutPrefix(s, prefix)
	if !ok {
		return "", "", false
	}
	n := accepts(s)
	if n < 0 {
		return "", "", false
	}
	return s[:n], s[n:], true
}

// isPlainString is the length of the string body at the start of s, up to
// its closing quote (left in place), or -1 if it holds an escape, a control
// or non-ASCII byte, or never closes.
func isPlainString(s string) int {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b == '"':
			return i
		case b < 0x20 || b == '\\' || b >= 0x7f:
			return -1
		}
	}
	return -1
}

// isPlainInteger is the length of the JSON integer at the start of s: 1 to
// 15 digits, no leading zero, no sign; -1 otherwise.
func isPlainInteger(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 || n > 15 || (s[0] == '0' && n > 1) {
		return -1
	}
	if n < len(s) && (s[n] == '.' || s[n] == 'e' || s[n] == 'E') {
		return -1
	}
	return n
}

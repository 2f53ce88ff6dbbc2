package jwt

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/orderflow/orderflow/app"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func TestMintThenVerify(t *testing.T) {
	keys, err := NewKeys(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	want := app.Principal{Subject: "5f0c6c1e-0000-4000-8000-000000000001", Role: app.RoleCustomer}
	token, err := keys.Mint(want, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := keys.Verify(token)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("Verify = %+v, want %+v", got, want)
	}
}

func TestVerifyRejects(t *testing.T) {
	keys, err := NewKeys(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewKeys([]byte(strings.Repeat("x", MinSecretLength)))
	if err != nil {
		t.Fatal(err)
	}
	admin := app.Principal{Subject: "ops", Role: app.RoleAdmin}
	sign := func(method gojwt.SigningMethod, key any, c gojwt.MapClaims) string {
		t.Helper()
		s, err := gojwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := time.Now().Add(time.Hour).Unix()
	otherSigned, err := other.Mint(admin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keys.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expired, err := keys.Mint(admin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keys.now = time.Now

	for name, token := range map[string]string{
		"empty":         "",
		"garbage":       "not.a.token",
		"bad signature": otherSigned,
		"expired":       expired,
		"alg none":      sign(gojwt.SigningMethodNone, gojwt.UnsafeAllowNoneSignatureType, gojwt.MapClaims{"sub": "ops", "role": "admin", "exp": exp}),
		"HS512":         sign(gojwt.SigningMethodHS512, testSecret, gojwt.MapClaims{"sub": "ops", "role": "admin", "exp": exp}),
		"no exp":        sign(gojwt.SigningMethodHS256, testSecret, gojwt.MapClaims{"sub": "ops", "role": "admin"}),
		"unknown role":  sign(gojwt.SigningMethodHS256, testSecret, gojwt.MapClaims{"sub": "ops", "role": "root", "exp": exp}),
		"no subject":    sign(gojwt.SigningMethodHS256, testSecret, gojwt.MapClaims{"role": "admin", "exp": exp}),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := keys.Verify(token); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestNewKeysRejectsAShortSecret(t *testing.T) {
	if _, err := NewKeys([]byte("short")); err == nil {
		t.Fatal("NewKeys accepted a 5-byte secret")
	}
}

// TestMintedPathAgreesWithParser: on every token, the fast path for tokens
// shaped as Mint writes them decides as the general parser does, and it
// does handle the tokens Mint writes.
func TestMintedPathAgreesWithParser(t *testing.T) {
	keys, err := NewKeys(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewKeys([]byte(strings.Repeat("y", MinSecretLength)))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(c gojwt.MapClaims) string {
		t.Helper()
		s, err := gojwt.NewWithClaims(gojwt.SigningMethodHS256, c).SignedString(testSecret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mint := func(k *Keys, p app.Principal, ttl time.Duration) string {
		t.Helper()
		s, err := k.Mint(p, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// signRaw signs a payload exactly as given, under Mint's header.
	signRaw := func(payload string) string {
		signing := mintedHeader + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
		mac := hmac.New(sha256.New, testSecret)
		mac.Write([]byte(signing))
		return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	now := time.Now()
	exp, past, future := now.Add(time.Hour).Unix(), now.Add(-time.Minute).Unix(), now.Add(time.Minute).Unix()
	admin := app.Principal{Subject: "ops", Role: app.RoleAdmin}
	valid := mint(keys, admin, time.Hour)
	head, rest, _ := strings.Cut(valid, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	tampered := head + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":`+strconv.FormatInt(exp, 10)+`,"role":"admin","sub":"root"}`)) + "." + sig

	tokens := map[string]struct {
		token   string
		handled bool // the fast path must decide it
	}{
		"minted customer":  {mint(keys, app.Principal{Subject: "c-1", Role: app.RoleCustomer}, time.Hour), true},
		"minted admin":     {valid, true},
		"other secret":     {mint(other, admin, time.Hour), true},
		"tampered payload": {tampered, true},
		"truncated sig":    {head + "." + payload + "." + sig[:len(sig)-2], false},
		"expired":          {sign(gojwt.MapClaims{"sub": "ops", "role": "admin", "exp": past}), true},
		"not yet valid":    {sign(gojwt.MapClaims{"sub": "ops", "role": "admin", "exp": exp, "nbf": future}), true},
		"valid since":      {sign(gojwt.MapClaims{"sub": "ops", "role": "admin", "exp": exp, "nbf": past, "iat": past}), true},
		"fractional exp":   {sign(gojwt.MapClaims{"sub": "ops", "role": "admin", "exp": float64(exp) + 0.5}), true},
		"no exp":           {sign(gojwt.MapClaims{"sub": "ops", "role": "admin"}), true},
		"unknown role":     {sign(gojwt.MapClaims{"sub": "ops", "role": "root", "exp": exp}), true},
		"no subject":       {sign(gojwt.MapClaims{"role": "admin", "exp": exp}), true},
		"extra claim":      {sign(gojwt.MapClaims{"sub": "ops", "role": "admin", "exp": exp, "aud": "x"}), false},
		"exp as string":    {sign(gojwt.MapClaims{"sub": "ops", "role": "admin", "exp": "soon"}), false},
		"alg none": {func() string {
			s, _ := gojwt.NewWithClaims(gojwt.SigningMethodNone, gojwt.MapClaims{"sub": "ops", "role": "admin", "exp": exp}).SignedString(gojwt.UnsafeAllowNoneSignatureType)
			return s
		}(), false},
		"header keys swapped": {base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"HS256"}`)) + "." + payload + "." + sig, false},
		// Mint's own layout, read without the JSON decoder, and its near misses.
		"layout":                  {signRaw(`{"role":"admin","sub":"ops","exp":` + strconv.FormatInt(exp, 10) + `,"iat":` + strconv.FormatInt(past, 10) + `}`), true},
		"layout expired":          {signRaw(`{"role":"admin","sub":"ops","exp":` + strconv.FormatInt(past, 10) + `,"iat":1}`), true},
		"layout unknown role":     {signRaw(`{"role":"root","sub":"ops","exp":` + strconv.FormatInt(exp, 10) + `,"iat":1}`), true},
		"layout empty subject":    {signRaw(`{"role":"admin","sub":"","exp":` + strconv.FormatInt(exp, 10) + `,"iat":1}`), true},
		"layout escaped subject":  {signRaw(`{"role":"admin","sub":"o\"ps","exp":` + strconv.FormatInt(exp, 10) + `,"iat":1}`), true},
		"layout unicode subject":  {signRaw(`{"role":"admin","sub":"opé","exp":` + strconv.FormatInt(exp, 10) + `,"iat":1}`), true},
		"layout fractional exp":   {signRaw(`{"role":"admin","sub":"ops","exp":` + strconv.FormatInt(exp, 10) + `.9,"iat":1}`), true},
		"layout exponent exp":     {signRaw(`{"role":"admin","sub":"ops","exp":1e10,"iat":1}`), true},
		"layout leading zero exp": {signRaw(`{"role":"admin","sub":"ops","exp":0` + strconv.FormatInt(exp, 10) + `,"iat":1}`), false},
		"layout 20-digit exp":     {signRaw(`{"role":"admin","sub":"ops","exp":99999999999999999999,"iat":1}`), true},
		"layout spaces":           {signRaw(`{"role": "admin","sub":"ops","exp":` + strconv.FormatInt(exp, 10) + `,"iat":1}`), true},
		"layout trailing data":    {signRaw(`{"role":"admin","sub":"ops","exp":` + strconv.FormatInt(exp, 10) + `,"iat":1}x`), false},
		"garbage":                 {"not.a.token", false},
		"four segments":           {valid + ".x", false},
		"empty":                   {"", false},
	}
	for name, tc := range tokens {
		t.Run(name, func(t *testing.T) {
			fast, handled, fastErr := keys.verifyMinted(tc.token)
			if handled != tc.handled {
				t.Fatalf("fast path handled = %t, want %t (%v)", handled, tc.handled, fastErr)
			}
			parsed, parsedErr := keys.verifyParsed(tc.token)
			if !handled {
				return
			}
			if (fastErr == nil) != (parsedErr == nil) || fast != parsed {
				t.Fatalf("fast path: %+v, %v; parser: %+v, %v", fast, fastErr, parsed, parsedErr)
			}
			if fastErr != nil && !errors.Is(fastErr, ErrInvalidToken) {
				t.Fatalf("fast path error %v does not wrap ErrInvalidToken", fastErr)
			}
		})
	}
}

// FuzzMintedLayoutAgreesWithJSON holds the hand-written reader of Mint's
// layout to the JSON decoder it stands in for: whatever it accepts, the
// decoder accepts too, with the same claims.
func FuzzMintedLayoutAgreesWithJSON(f *testing.F) {
	for _, seed := range []string{
		`{"role":"admin","sub":"ops","exp":1796776239,"iat":1796689839}`,
		`{"role":"customer","sub":"01a2530f-43ce-77e2-aba7-df07aa17b828","exp":1,"iat":0}`,
		`{"role":"admin","sub":"o\"ps","exp":1,"iat":1}`,
		`{"role":"admin","sub":"ops","exp":01,"iat":1}`,
		`{"role":"admin","sub":"ops","exp":1.5,"iat":1}`,
		`{"role":"admin","sub":"ops","exp":1,"iat":1}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := mintedLayout(raw)
		if !ok {
			return
		}
		var want mintedClaims
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&want); err != nil || dec.More() {
			t.Fatalf("mintedLayout accepted %q, the JSON decoder did not: %v", raw, err)
		}
		if got.Subject != want.Subject || got.Role != want.Role || !sameNumber(got.ExpiresAt, want.ExpiresAt) ||
			!sameNumber(got.IssuedAt, want.IssuedAt) || !sameNumber(got.NotBefore, want.NotBefore) {
			t.Fatalf("%q: mintedLayout read %+v, the JSON decoder %+v", raw, got, want)
		}
	})
}

func sameNumber(a, b *float64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

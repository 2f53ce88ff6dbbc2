package jwt

import (
	"errors"
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

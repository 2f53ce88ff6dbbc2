package main

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/adapters/jwt"
	"github.com/orderflow/orderflow/app"
)

// apiTestSecret signs the tokens of the orderflow-api processes these tests start.
const apiTestSecret = "orderflow-projector-test-secret-0123456789"

// apiAdminToken is an admin token those processes accept.
func apiAdminToken(t *testing.T) string {
	t.Helper()
	keys, err := jwt.NewKeys([]byte(apiTestSecret))
	if err != nil {
		t.Fatal(err)
	}
	token, err := keys.Mint(app.Principal{Subject: "projector-test", Role: app.RoleAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

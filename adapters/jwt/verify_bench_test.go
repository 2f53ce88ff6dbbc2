package jwt

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/app"
)

// go test -run NONE -bench Verify -benchmem ./adapters/jwt/ compares the
// path every request takes (tokens as Mint writes them) with the general
// parser, on the same machine in the same run.
func BenchmarkVerify(b *testing.B) {
	keys, _ := NewKeys(testSecret)
	tok, _ := keys.Mint(app.Principal{Subject: "5f0c6c1e-0000-4000-8000-000000000001", Role: app.RoleAdmin}, time.Hour)
	b.Run("minted", func(b *testing.B) {
		for b.Loop() {
			if _, err := keys.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parser", func(b *testing.B) {
		for b.Loop() {
			if _, err := keys.verifyParsed(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

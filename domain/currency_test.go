package domain_test

import (
	"testing"

	"github.com/orderflow/orderflow/domain"
)

func TestIsCurrency(t *testing.T) {
	tests := []struct {
		name string
		code string
		want bool
	}{
		{"euro", "EUR", true},
		{"us dollar", "USD", true},
		{"yen", "JPY", true},
		{"first code of the list", "AED", true},
		{"last code of the list", "ZWG", true},
		{"swiss franc", "CHF", true},
		{"lower case", "eur", false},
		{"mixed case", "Eur", false},
		{"four letters", "EURO", false},
		{"two letters", "EU", false},
		{"empty", "", false},
		{"fake XXX", "XXX", false},
		{"fake ABC", "ABC", false},
		{"fake QQQ", "QQQ", false},
		{"gold is not a currency", "XAU", false},
		{"test code", "XTS", false},
		{"straddles two codes", "DAF", false}, // letters of "AED AFN" read across the gap
		{"tail of one code and head of next", "D A", false},
		{"tail of a code", "ED ", false},
		{"code with trailing space", "EU ", false},
		{"code with leading space", " EU", false},
		{"three spaces", "   ", false},
		{"digits", "123", false},
		{"code plus space", "EUR ", false},
		{"non-ASCII of three bytes", "€", false}, // "€" is 3 bytes long
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.IsCurrency(tt.code); got != tt.want {
				t.Errorf("IsCurrency(%q) = %v, want %v", tt.code, got, tt.want)
			}
		})
	}
}

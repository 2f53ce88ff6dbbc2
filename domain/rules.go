package domain

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of docs/guarantees.md, "Validation".
const (
	MaxPriceCents        int64 = 1_000_000_000_000
	MaxNameLength              = 200
	MaxDescriptionLength       = 2000
	MaxSKULength               = 64
	MaxEmailLength             = 254
	MaxOrderLines              = 100
	MaxLineQuantity      int64 = 10_000
	// MaxStock bounds on-hand stock so that sums of quantities never overflow.
	MaxStock int64 = 1_000_000_000_000
)

func checkSKU(v *ValidationError, field, sku string) {
	if sku == "" || len(sku) > MaxSKULength {
		v.add(field, "must be 1 to %d characters", MaxSKULength)
		return
	}
	for _, r := range sku {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			v.add(field, "may contain only A-Z a-z 0-9 . _ -")
			return
		}
	}
}

// checkText enforces a length in characters and refuses invalid UTF-8 and
// control characters; only multiline text (a description) may hold line
// breaks and tabs.
func checkText(v *ValidationError, field, s string, minLen, maxLen int, multiline bool) {
	if !utf8.ValidString(s) {
		v.add(field, "must be valid UTF-8")
		return
	}
	n := utf8.RuneCountInString(s)
	if n < minLen || n > maxLen {
		if minLen > 0 {
			v.add(field, "must be %d to %d characters", minLen, maxLen)
		} else {
			v.add(field, "must be at most %d characters", maxLen)
		}
		return
	}
	if minLen > 0 && strings.TrimSpace(s) == "" {
		v.add(field, "must not be blank")
		return
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r')) {
			v.add(field, "must not contain control characters")
			return
		}
	}
}

func checkPrice(v *ValidationError, field string, cents int64) {
	if cents < 0 || cents > MaxPriceCents {
		v.add(field, "must be between 0 and %d", MaxPriceCents)
	}
}

func checkCurrency(v *ValidationError, field, code string) {
	if !IsCurrency(code) {
		v.add(field, "must be an ISO 4217 currency code such as EUR")
	}
}

func checkEmail(v *ValidationError, field, email string) {
	if email == "" || len(email) > MaxEmailLength {
		v.add(field, "must be 1 to %d characters", MaxEmailLength)
		return
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		v.add(field, "must be a plain e-mail address such as ada@example.com")
	}
}

package domain

// Money is an amount in a currency's minor unit as ISO 4217 defines it for
// that currency: cents of EUR and USD, yen (exponent 0) of JPY, fils
// (exponent 3) of KWD. An amount is never a fraction of that unit, and the
// currency travels with it, so an amount read alone still says what it counts.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

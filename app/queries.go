package app

import (
	"fmt"
	"unicode/utf8"

	"github.com/orderflow/orderflow/domain"
)

// Paging of the product list (docs/guarantees.md, "Lists").
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	// MaxSearchLength bounds the list's search text, in characters.
	MaxSearchLength = 200
	// CustomerOrdersLimit caps a customer's order summaries to the newest ones.
	CustomerOrdersLimit = 100
)

// ListProducts asks for one page of the catalogue, optionally filtered by a
// case-insensitive substring of the name or SKU.
type ListProducts struct {
	Page     int
	PageSize int
	Search   string
}

// Validate checks paging; zero values take the defaults.
func (q *ListProducts) Validate() error {
	var v domain.ValidationError
	if q.Page == 0 {
		q.Page = 1
	}
	if q.PageSize == 0 {
		q.PageSize = DefaultPageSize
	}
	if q.Page < 1 {
		v.Fields = append(v.Fields, domain.FieldError{Field: "page", Message: "must be a positive integer"})
	}
	if q.PageSize < 1 || q.PageSize > MaxPageSize {
		v.Fields = append(v.Fields, domain.FieldError{Field: "pageSize", Message: "must be an integer from 1 to 100"})
	}
	if utf8.RuneCountInString(q.Search) > MaxSearchLength {
		v.Fields = append(v.Fields, domain.FieldError{Field: "search", Message: fmt.Sprintf("must be at most %d characters", MaxSearchLength)})
	}
	if len(v.Fields) > 0 {
		return &v
	}
	return nil
}

package app

import (
	"errors"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/domain"
)

// The search bound counts characters, not bytes: 200 two-byte letters pass.
func TestListProductsSearchLengthInCharacters(t *testing.T) {
	for _, tt := range []struct {
		search string
		valid  bool
	}{
		{strings.Repeat("a", MaxSearchLength), true},
		{strings.Repeat("é", MaxSearchLength), true},
		{strings.Repeat("a", MaxSearchLength+1), false},
		{strings.Repeat("é", MaxSearchLength+1), false},
	} {
		q := ListProducts{Search: tt.search}
		err := q.Validate()
		var v *domain.ValidationError
		if tt.valid && err != nil {
			t.Errorf("%d × %q: %v, want valid", len([]rune(tt.search)), tt.search[:2], err)
		}
		if !tt.valid && !errors.As(err, &v) {
			t.Errorf("%d × %q: %v, want a validation error", len([]rune(tt.search)), tt.search[:2], err)
		}
	}
}

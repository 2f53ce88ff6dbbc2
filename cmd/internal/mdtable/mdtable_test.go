package mdtable

import (
	"slices"
	"testing"
)

func TestSplitRow(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"| a | b |", []string{"a", "b"}},
		{"|a|b", []string{"a", "b"}},
		{"| `x|y` | z |", []string{"`x|y`", "z"}},
		{"| only |", []string{"only"}},
		{"|  |  |", []string{"", ""}},
	}
	for _, tt := range tests {
		if got := SplitRow(tt.line); !slices.Equal(got, tt.want) {
			t.Errorf("SplitRow(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"testing"

	"github.com/orderflow/orderflow/cmd/internal/configdoc"
)

// TestConfigDoc checks the README's configuration table and
// docker-compose.yml against the settings --help lists: every flag has its
// row, with its default, and the compose file sets no variable it ignores.
func TestConfigDoc(t *testing.T) {
	var help bytes.Buffer
	m := NewMain(io.Discard, &help, func(string) (string, bool) { return "", false })
	_, _, err := m.ParseFlags([]string{"--help"})
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, err := range configdoc.CheckBinary("orderflow-projector", help.String()) {
		t.Error(err)
	}
}

package systemtest_test

import (
	"testing"

	"github.com/orderflow/orderflow/internal/testenv"
)

// TestMain removes the binaries testenv.Binaries built (once per test
// binary, with -race when the tests run with it).
func TestMain(m *testing.M) { testenv.Main(m) }

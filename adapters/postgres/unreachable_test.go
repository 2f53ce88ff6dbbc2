package postgres

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// A connection the driver closed because its server died is PostgreSQL
// being unreachable (503), not an internal error (500).
func TestConnClosedIsUnreachable(t *testing.T) {
	if !unreachable(fmt.Errorf("place order: %w", pgconn.ErrConnClosed)) {
		t.Fatal("pgconn.ErrConnClosed is not classified as unreachable")
	}
}

// Package redistest gives integration tests a Redis client and a key prefix
// of their own on the test server.
//
// The server comes from ORDERFLOW_TEST_REDIS_URL, which `make test`
// (scripts/test.sh, via scripts/services.sh) exports. Tests share the server,
// so every key a test writes must start with the prefix New returns; the keys
// under it are deleted when the test ends.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvVar names the variable holding the URL of the test server.
const EnvVar = "ORDERFLOW_TEST_REDIS_URL"

const timeout = 30 * time.Second

// URL returns the URL of the test server, failing tb when it is not set.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(EnvVar)
	if u == "" {
		tb.Fatalf("redistest: %s is not set; run tests via make test (or: eval \"$(scripts/services.sh env test)\" after scripts/services.sh start test)", EnvVar)
	}
	return u
}

// New returns a client of the test server and a unique key prefix of the form
// "t<random hex>:". On cleanup it deletes every key under the prefix and
// closes the client.
func New(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	opts, err := redis.ParseURL(URL(tb))
	if err != nil {
		tb.Fatalf("redistest: parse %s: %v", EnvVar, err)
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("redistest: random: %v", err)
	}
	prefix := "t" + hex.EncodeToString(b) + ":"

	client := redis.NewClient(opts)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := DeletePrefix(ctx, client, prefix); err != nil {
			tb.Logf("redistest: delete keys %s*: %v", prefix, err)
		}
		if err := client.Close(); err != nil {
			tb.Logf("redistest: close: %v", err)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		tb.Fatalf("redistest: ping %s: %v", opts.Addr, err)
	}
	return client, prefix
}

// DeletePrefix deletes every key that starts with prefix (which must contain
// no glob characters).
func DeletePrefix(ctx context.Context, client redis.UniversalClient, prefix string) error {
	iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	batch := make([]string, 0, 500)
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := client.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return client.Unlink(ctx, batch...).Err()
	}
	return nil
}

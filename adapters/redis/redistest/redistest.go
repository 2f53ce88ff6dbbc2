// Package redistest gives integration tests a Redis client and a key prefix
// of their own on the test server.
//
// The server comes from ORDERFLOW_TEST_REDIS_URL, which `make test`
// (scripts/test.sh, via scripts/services.sh) exports. It is a single
// server's URL or, in the cluster pass, a Redis Cluster's node list
// (scripts/redis-cluster.sh); clients come from the same constructor the
// binaries use, so every test runs against whichever the URL names. Tests
// share the server, so every key a test writes must start with the prefix
// New returns; the keys under it are deleted when the test ends.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
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

// ShardsEnvVar names the variable holding the stream shard count tests of
// the streams, the relay and the projector run with (default 1); the
// cluster pass of scripts/test.sh sets it above 1.
const ShardsEnvVar = "ORDERFLOW_TEST_STREAM_SHARDS"

// StreamShards returns the stream shard count tests use, failing tb when
// ORDERFLOW_TEST_STREAM_SHARDS is not a number from 1 to 64.
func StreamShards(tb testing.TB) int {
	tb.Helper()
	v := os.Getenv(ShardsEnvVar)
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 64 {
		tb.Fatalf("redistest: %s=%q: want 1 to 64", ShardsEnvVar, v)
	}
	return n
}

// Cluster reports whether the test server is a Redis Cluster.
func Cluster(tb testing.TB) bool {
	tb.Helper()
	return orderflowredis.IsCluster(URL(tb))
}

// Masters returns the address of every master of the test server, sorted:
// the server itself, or each master a Redis Cluster lists in CLUSTER NODES
// (read here, not through the client's own routing, so that tests can
// check that routing against it).
func Masters(tb testing.TB) []string {
	tb.Helper()
	if !Cluster(tb) {
		o, err := redis.ParseURL(URL(tb))
		if err != nil {
			tb.Fatalf("redistest: %s: %v", EnvVar, err)
		}
		return []string{o.Addr}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	nodes, err := NewClient(tb, orderflowredis.PoolOptions{}).ClusterNodes(ctx).Result()
	if err != nil {
		tb.Fatalf("redistest: CLUSTER NODES: %v", err)
	}
	// <id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>...
	var masters []string
	for line := range strings.Lines(nodes) {
		f := strings.Fields(line)
		if len(f) < 3 || !slices.Contains(strings.Split(f[2], ","), "master") || strings.Contains(f[2], "fail") {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		masters = append(masters, addr)
	}
	if len(masters) == 0 {
		tb.Fatalf("redistest: CLUSTER NODES lists no master:\n%s", nodes)
	}
	slices.Sort(masters)
	return masters
}

// New returns a client of the test server and a unique key prefix of the form
// "t<random hex>:". On cleanup it deletes every key under the prefix and
// closes the client.
func New(tb testing.TB) (redis.UniversalClient, string) {
	tb.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("redistest: random: %v", err)
	}
	prefix := "t" + hex.EncodeToString(b) + ":"
	client := NewClient(tb, orderflowredis.PoolOptions{})
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := DeletePrefix(ctx, client, prefix); err != nil {
			tb.Logf("redistest: delete keys %s*: %v", prefix, err)
		}
	})
	return client, prefix
}

// NewClient returns one more client of the test server with the given pool
// settings, closed when the test ends (after New's key cleanup, which runs
// first).
func NewClient(tb testing.TB, pool orderflowredis.PoolOptions) redis.UniversalClient {
	tb.Helper()
	client, err := orderflowredis.NewClient(URL(tb), pool)
	if err != nil {
		tb.Fatalf("redistest: %s: %v", EnvVar, err)
	}
	tb.Cleanup(func() {
		if err := client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
			tb.Logf("redistest: close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		tb.Fatalf("redistest: ping %s: %v", URL(tb), err)
	}
	return client
}

// DeletePrefix deletes every key that starts with prefix (which must contain
// no glob characters), on every master of a cluster.
func DeletePrefix(ctx context.Context, client redis.UniversalClient, prefix string) error {
	del := func(ctx context.Context, node redis.UniversalClient) error {
		// One UNLINK per key, pipelined: keys of a batch may sit in
		// different slots, which a multi-key UNLINK refuses on a cluster.
		pipe := node.Pipeline()
		iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			pipe.Unlink(ctx, iter.Val())
			if pipe.Len() == 500 {
				if _, err := pipe.Exec(ctx); err != nil {
					return err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	if c, ok := client.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		return c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			mu.Lock() // the masters are few; one at a time keeps the cleanup gentle
			defer mu.Unlock()
			return del(ctx, node)
		})
	}
	return del(ctx, client)
}

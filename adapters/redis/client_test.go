package redis_test

import (
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
)

// One setting names a single server or a cluster; the pool settings reach
// every node's pool either way (go-redis keeps "no retries", -1, as -1 or 0).
func TestNewClientReadsSingleAndClusterURLs(t *testing.T) {
	pool := orderflowredis.PoolOptions{PoolSize: 7, ReadTimeout: 150 * time.Millisecond, MaxRetries: -1}
	for _, tc := range []struct {
		url   string
		addrs []string
		pass  string
	}{
		{url: "redis://127.0.0.1:6379/0", addrs: []string{"127.0.0.1:6379"}},
		{url: "redis://:s3cret@10.0.0.1:7000,10.0.0.2:7000,redis://10.0.0.3:7000", addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}, pass: "s3cret"},
		{url: "10.0.0.1:7000,10.0.0.2:7000", addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}},
		{url: "redis://10.0.0.1:7000?addr=10.0.0.2:7000", addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}},
	} {
		client, err := orderflowredis.NewClient(tc.url, pool)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		switch c := client.(type) {
		case *redis.Client:
			o := c.Options()
			if len(tc.addrs) != 1 || o.Addr != tc.addrs[0] || o.PoolSize != 7 || o.ReadTimeout != pool.ReadTimeout || o.MaxRetries > 0 {
				t.Errorf("%s: single client %s pool %d read %s retries %d", tc.url, o.Addr, o.PoolSize, o.ReadTimeout, o.MaxRetries)
			}
		case *redis.ClusterClient:
			o := c.Options()
			if len(tc.addrs) == 1 || !slices.Equal(o.Addrs, tc.addrs) || o.Password != tc.pass || o.PoolSize != 7 || o.ReadTimeout != pool.ReadTimeout || o.MaxRetries > 0 {
				t.Errorf("%s: cluster client %v password %q pool %d read %s retries %d", tc.url, o.Addrs, o.Password, o.PoolSize, o.ReadTimeout, o.MaxRetries)
			}
		default:
			t.Errorf("%s: %T", tc.url, client)
		}
		if got := orderflowredis.IsCluster(tc.url); got != (len(tc.addrs) > 1) {
			t.Errorf("IsCluster(%s) = %v", tc.url, got)
		}
		_ = client.Close()
	}
	for _, bad := range []string{"redis://a:1,", "redis://a:1/3,b:2", "http://a:1"} {
		if c, err := orderflowredis.NewClient(bad, pool); err == nil {
			_ = c.Close()
			t.Errorf("NewClient(%q) accepted it", bad)
		}
	}
}

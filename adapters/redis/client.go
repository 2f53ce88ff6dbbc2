package redis

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// PoolOptions are the connection settings a binary chooses; a zero field
// keeps what the URL or go-redis sets. They apply to every node's pool.
type PoolOptions struct {
	PoolSize     int
	PoolTimeout  time.Duration
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// MaxRetries is -1 for none; 0 keeps go-redis's default.
	MaxRetries int
}

// NewClient builds the client every binary and test uses from one URL
// setting (ORDERFLOW_REDIS_URL):
//
//   - a single server: redis://[user:password@]host:port[/db][?options]
//   - a Redis Cluster: its seed nodes separated by commas, each a URL or a
//     bare host:port, e.g. redis://:secret@10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000;
//     credentials and options come from the first. go-redis's own cluster
//     form, redis://host1:7000?addr=host2:7000&addr=host3:7000, works too:
//     any addr parameter means cluster.
//
// The client routes each command to its slot's master; OrderFlow's scripts
// and transactions touch one slot each (docs/adr/0011-redis-cluster.md).
func NewClient(rawURL string, pool PoolOptions) (redis.UniversalClient, error) {
	clusterURL, cluster, err := clusterURL(rawURL)
	if err != nil {
		return nil, err
	}
	if !cluster {
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis URL: %w", err)
		}
		pool.apply(&o.PoolSize, &o.PoolTimeout, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries)
		return redis.NewClient(o), nil
	}
	o, err := redis.ParseClusterURL(clusterURL)
	if err != nil {
		return nil, fmt.Errorf("redis cluster URL: %w", err)
	}
	pool.apply(&o.PoolSize, &o.PoolTimeout, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries)
	return redis.NewClusterClient(o), nil
}

// IsCluster reports whether rawURL names a Redis Cluster.
func IsCluster(rawURL string) bool {
	_, cluster, err := clusterURL(rawURL)
	return err == nil && cluster
}

func (p PoolOptions) apply(size *int, poolTimeout, dial, read, write *time.Duration, retries *int) {
	set := func(dst *time.Duration, v time.Duration) {
		if v != 0 {
			*dst = v
		}
	}
	if p.PoolSize != 0 {
		*size = p.PoolSize
	}
	set(poolTimeout, p.PoolTimeout)
	set(dial, p.DialTimeout)
	set(read, p.ReadTimeout)
	set(write, p.WriteTimeout)
	if p.MaxRetries != 0 {
		*retries = p.MaxRetries
	}
}

// clusterURL turns the comma-separated form into go-redis's cluster URL
// (the first URL plus one addr parameter per further node) and reports
// whether rawURL names a cluster at all.
func clusterURL(rawURL string) (string, bool, error) {
	parts := strings.Split(rawURL, ",")
	first := strings.TrimSpace(parts[0])
	if !strings.Contains(first, "://") {
		first = "redis://" + first
	}
	u, err := url.Parse(first)
	if err != nil {
		return "", false, fmt.Errorf("redis URL: %w", err)
	}
	q := u.Query()
	if len(parts) == 1 && !q.Has("addr") {
		return rawURL, false, nil
	}
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		return "", false, errors.New("redis cluster URL: a cluster has only database 0")
	}
	u.Path = ""
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		if p == "" {
			return "", false, fmt.Errorf("redis cluster URL %q: empty node", rawURL)
		}
		if strings.Contains(p, "://") {
			n, err := url.Parse(p)
			if err != nil {
				return "", false, fmt.Errorf("redis cluster URL: %w", err)
			}
			p = n.Host
		}
		q.Add("addr", p)
	}
	u.RawQuery = q.Encode()
	return u.String(), true, nil
}

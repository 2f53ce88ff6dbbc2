package redis

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// KeyspaceStats is Redis's own count of key lookups (INFO stats): on a
// Redis Cluster the sum over every master, with each master's own figures.
type KeyspaceStats struct {
	Hits, Misses int64
	// Nodes are the figures of each server, sorted by address: the one
	// server, or every master of a cluster.
	Nodes []NodeKeyspaceStats
}

// NodeKeyspaceStats is one server's keyspace_hits and keyspace_misses.
type NodeKeyspaceStats struct {
	Addr         string
	Hits, Misses int64
}

// KeyspaceStats reads keyspace_hits and keyspace_misses from INFO stats of
// the server, or of every master of a cluster (concurrently), and sums
// them. Replicas are left out: the cache reads and writes masters only,
// and a replica's counters count only the reads sent to it. A master that
// cannot be read fails the whole call rather than report a partial sum.
func (s *CacheStore) KeyspaceStats(ctx context.Context) (KeyspaceStats, error) {
	v, err := s.do(func() (any, error) {
		var (
			mu    sync.Mutex
			nodes []NodeKeyspaceStats
		)
		read := func(ctx context.Context, c *redis.Client) error {
			n, err := nodeKeyspaceStats(ctx, c)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			nodes = append(nodes, n)
			return nil
		}
		var err error
		switch c := s.client.(type) {
		case *redis.ClusterClient:
			err = c.ForEachMaster(ctx, read)
		case *redis.Client:
			err = read(ctx, c)
		default:
			err = fmt.Errorf("keyspace stats: unsupported client %T", s.client)
		}
		return nodes, err
	})
	if err != nil {
		return KeyspaceStats{}, err
	}
	out := KeyspaceStats{Nodes: v.([]NodeKeyspaceStats)}
	slices.SortFunc(out.Nodes, func(a, b NodeKeyspaceStats) int { return strings.Compare(a.Addr, b.Addr) })
	for _, n := range out.Nodes {
		out.Hits += n.Hits
		out.Misses += n.Misses
	}
	return out, nil
}

// nodeKeyspaceStats reads one server's INFO stats.
func nodeKeyspaceStats(ctx context.Context, c *redis.Client) (NodeKeyspaceStats, error) {
	info, err := c.InfoMap(ctx, "stats").Result()
	if err != nil {
		return NodeKeyspaceStats{}, fmt.Errorf("INFO stats of %s: %w", c.Options().Addr, err)
	}
	stats := info["Stats"]
	n := NodeKeyspaceStats{Addr: c.Options().Addr}
	if n.Hits, err = infoInt(stats, "keyspace_hits"); err != nil {
		return NodeKeyspaceStats{}, err
	}
	if n.Misses, err = infoInt(stats, "keyspace_misses"); err != nil {
		return NodeKeyspaceStats{}, err
	}
	return n, nil
}

// infoInt reads one integer field of an INFO section; a field the server
// does not report counts as zero.
func infoInt(section map[string]string, name string) (int64, error) {
	v, ok := section[name]
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("INFO stats %s=%q: %w", name, v, err)
	}
	return n, nil
}

// KeyspaceCollector exports Redis's keyspace hits and misses, read from
// INFO stats of every master at each scrape, as Prometheus counters with a
// node label: they are counters kept by another process, so they are
// collected as such (the pattern of Prometheus exporters) rather than
// mirrored into counters of this one. Per node, because a master's
// counters restart on its own (a restart, CONFIG RESETSTAT, a failover to
// its replica) and rate() copes with that only series by series; sum them
// in PromQL. A scrape that cannot read Redis leaves them out.
type KeyspaceCollector struct {
	store   *CacheStore
	timeout time.Duration
	hits    *prometheus.Desc
	misses  *prometheus.Desc
}

// NewKeyspaceCollector returns the collector; each scrape waits at most
// timeout for Redis.
func NewKeyspaceCollector(store *CacheStore, timeout time.Duration) *KeyspaceCollector {
	return &KeyspaceCollector{
		store:   store,
		timeout: timeout,
		hits: prometheus.NewDesc("orderflow_redis_keyspace_hits_total",
			"Key lookups that found the key, as Redis counts them (INFO stats keyspace_hits), per master node.",
			[]string{"node"}, nil),
		misses: prometheus.NewDesc("orderflow_redis_keyspace_misses_total",
			"Key lookups that found no key, as Redis counts them (INFO stats keyspace_misses), per master node.",
			[]string{"node"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *KeyspaceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.hits
	ch <- c.misses
}

// Collect implements prometheus.Collector.
func (c *KeyspaceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	stats, err := c.store.KeyspaceStats(ctx)
	if err != nil {
		return
	}
	for _, n := range stats.Nodes {
		ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(n.Hits), n.Addr)
		ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(n.Misses), n.Addr)
	}
}

// Package redis is OrderFlow's cache store on Redis (go-redis v9,
// UniversalClient, so Redis Cluster works): version-fenced values and
// tombstones written by Lua scripts, load leases released only by their
// owner, output-cache tag versions, reads that renew a sliding entry's life,
// Redis's own keyspace hits and misses of every master (for the stats
// endpoint and a Prometheus collector), and a circuit breaker so that a dead
// Redis costs no latency. It never builds a key: keys come from app/cache (cache.Keyspace) and adapters/streams (streams.Keys).
package redis

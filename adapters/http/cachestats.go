package http

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
)

// familyStats is one key family's reads on this instance.
type familyStats struct {
	Hits     int64   `json:"hits"`
	Misses   int64   `json:"misses"`
	Stale    int64   `json:"stale"`
	Loads    int64   `json:"loads"`
	HitRatio float64 `json:"hitRatio"`
	NearHits int64   `json:"nearHits"`
}

// nearStats is the near cache's size on this instance.
type nearStats struct {
	Entries  int    `json:"entries"`
	Bytes    uint64 `json:"bytes"`
	MaxBytes uint64 `json:"maxBytes"`
	Resets   int64  `json:"resets"`
}

// RedisKeyspace is Redis's own count of key lookups, all clients together:
// the sum over every master of a cluster, and each master's figures.
type RedisKeyspace struct {
	Hits, Misses int64
	Nodes        []RedisNodeKeyspace
}

// RedisNodeKeyspace is one Redis server's count of key lookups.
type RedisNodeKeyspace struct {
	Addr         string
	Hits, Misses int64
}

// redisKeyspaceStats is RedisKeyspace as the stats endpoint shows it.
type redisKeyspaceStats struct {
	KeyspaceHits   int64               `json:"keyspaceHits"`
	KeyspaceMisses int64               `json:"keyspaceMisses"`
	HitRatio       float64             `json:"hitRatio"`
	Nodes          []redisNodeKeyspace `json:"nodes"`
	Error          string              `json:"error,omitempty"`
}

type redisNodeKeyspace struct {
	Addr           string  `json:"addr"`
	KeyspaceHits   int64   `json:"keyspaceHits"`
	KeyspaceMisses int64   `json:"keyspaceMisses"`
	HitRatio       float64 `json:"hitRatio"`
}

type cacheStats struct {
	Families map[cache.Family]familyStats `json:"families"`
	Near     *nearStats                   `json:"near,omitempty"`
	Redis    *redisKeyspaceStats          `json:"redis,omitempty"`
}

func ratio(hits, total int64) float64 {
	if total == 0 {
		return 0
	}
	return float64(hits) / float64(total)
}

// handleCacheStats reports this instance's hits, misses and stale serves per
// key family, and Redis's keyspace hits and misses over every master.
func (s *Server) handleCacheStats(c echo.Context) error {
	out := cacheStats{Families: map[cache.Family]familyStats{}}
	if s.cache != nil {
		for _, f := range cache.Families() {
			st := s.cache.Stats(f)
			fs := familyStats{Hits: st.Hits.Load(), Misses: st.Misses.Load(), Stale: st.Stale.Load(), Loads: st.Loads.Load(), NearHits: st.NearHits.Load()}
			fs.HitRatio = ratio(fs.Hits, fs.Hits+fs.Misses+fs.Stale)
			out.Families[f] = fs
		}
		if n := s.cache.NearStats(); n.Enabled {
			out.Near = &nearStats{Entries: n.Entries, Bytes: n.Bytes, MaxBytes: n.MaxBytes, Resets: n.Resets}
		}
	}
	if s.redisStats != nil {
		ks, err := s.redisStats(c.Request().Context())
		out.Redis = &redisKeyspaceStats{KeyspaceHits: ks.Hits, KeyspaceMisses: ks.Misses, HitRatio: ratio(ks.Hits, ks.Hits+ks.Misses), Nodes: []redisNodeKeyspace{}}
		for _, n := range ks.Nodes {
			out.Redis.Nodes = append(out.Redis.Nodes, redisNodeKeyspace{Addr: n.Addr, KeyspaceHits: n.Hits, KeyspaceMisses: n.Misses, HitRatio: ratio(n.Hits, n.Hits+n.Misses)})
		}
		if err != nil {
			out.Redis.Error = "redis unreachable"
		}
	}
	return writeReply(c, reply{status: http.StatusOK, body: out, xCache: app.CacheBypass})
}

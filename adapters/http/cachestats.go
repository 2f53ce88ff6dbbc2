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

// redisKeyspaceStats is Redis's own count of key lookups, all clients together.
type redisKeyspaceStats struct {
	KeyspaceHits   int64   `json:"keyspaceHits"`
	KeyspaceMisses int64   `json:"keyspaceMisses"`
	HitRatio       float64 `json:"hitRatio"`
	Error          string  `json:"error,omitempty"`
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
// key family, and Redis's keyspace hits and misses.
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
		hits, misses, err := s.redisStats(c.Request().Context())
		out.Redis = &redisKeyspaceStats{KeyspaceHits: hits, KeyspaceMisses: misses, HitRatio: ratio(hits, hits+misses)}
		if err != nil {
			out.Redis.Error = "redis unreachable"
		}
	}
	return writeReply(c, reply{status: http.StatusOK, body: out, xCache: app.CacheBypass})
}

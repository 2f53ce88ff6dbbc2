package redis

import (
	"context"
	"time"

	"github.com/orderflow/orderflow/app/cache"
	"github.com/redis/go-redis/v9"
)

// getSliding reads an entry as Get does and, when it holds a value, renews
// its life: PEXPIRE to the window from now, capped at the absolute limit
// counted from its written-at time (w), and never shorter than the life it
// has left. A tombstone is not renewed (it must expire on its own clock),
// and neither is an entry without w, which could then never reach its cap.
// One key, one round trip: Redis Cluster safe. now is the caller's clock,
// the clock that wrote w.
//
// KEYS[1] entry; ARGV now (ms), window (ms), limit (ms).
var getSliding = redis.NewScript(`
local e = redis.call('HMGET', KEYS[1], 'v', 't', 'w', 'd')
if e[1] and e[2] == '0' and e[3] then
  local now = tonumber(ARGV[1])
  local expires = math.min(now + tonumber(ARGV[2]), tonumber(e[3]) + tonumber(ARGV[3]))
  local left = expires - now
  if left > 0 and left > redis.call('PTTL', KEYS[1]) then
    redis.call('PEXPIRE', KEYS[1], left)
  end
end
return e
`)

// GetSliding returns the entry at key and renews a value's life: up to
// window from now, never past limit from when it was written.
func (s *CacheStore) GetSliding(ctx context.Context, key string, window, limit time.Duration) (cache.Entry, error) {
	v, err := s.do(func() (any, error) {
		return getSliding.Run(ctx, s.client, []string{key}, s.now().UnixMilli(), window.Milliseconds(), limit.Milliseconds()).Slice()
	})
	if err != nil {
		return cache.Entry{}, err
	}
	return entryOf(v.([]any)), nil
}

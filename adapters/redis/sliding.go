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
var getSliding = redis.NewScript(slideLua + `
local e = redis.call('HMGET', KEYS[1], 'v', 't', 'w', 'd')
slide(KEYS[1], e, tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return e
`)

// slideLua defines slide(key, fields, now, window, limit): the renewal
// above, for an entry whose fields v, t and w were read first. Every
// script that reads a value as a hit renews it with it.
const slideLua = `
local function slide(key, e, now, window, limit)
  if e[1] and e[2] == '0' and e[3] and window > 0 then
    local expires = math.min(now + window, tonumber(e[3]) + limit)
    local left = expires - now
    if left > 0 and left > redis.call('PTTL', key) then
      redis.call('PEXPIRE', key, left)
    end
  end
end
`

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

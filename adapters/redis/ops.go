package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app/ops"
)

// The operations console's state lives under one hash tag, {ops}, so the
// replay's scripts touch one Redis Cluster slot: the process beats (a
// hash, one field per process), the audit list, the replay's status,
// pending request, lock and cancel flag, and verify's last result.

// auditKeep bounds the audit list.
const auditKeep = 100

// OpsState implements the console's ports (app/ops) in Redis.
type OpsState struct {
	client redis.UniversalClient
	prefix string
}

// NewOpsState returns the console's state under the key prefix.
func NewOpsState(client redis.UniversalClient, prefix string) *OpsState {
	return &OpsState{client: client, prefix: prefix}
}

func (s *OpsState) key(name string) string { return s.prefix + "{ops}:" + name }

// Publish stores b as its process's latest beat.
func (s *OpsState) Publish(ctx context.Context, b ops.Beat) error {
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode beat: %w", err)
	}
	return s.client.HSet(ctx, s.key("beats"), b.Kind+"/"+b.Name, data).Err()
}

// Beats returns the beats newer than ops.BeatTTL and removes older ones
// (processes that stopped).
func (s *OpsState) Beats(ctx context.Context) ([]ops.Beat, error) {
	all, err := s.client.HGetAll(ctx, s.key("beats")).Result()
	if err != nil {
		return nil, fmt.Errorf("read beats: %w", err)
	}
	var out []ops.Beat
	var gone []string
	now := time.Now()
	for field, raw := range all {
		var b ops.Beat
		if json.Unmarshal([]byte(raw), &b) != nil || now.Sub(b.At) > ops.BeatTTL {
			gone = append(gone, field)
			continue
		}
		out = append(out, b)
	}
	if len(gone) > 0 {
		_ = s.client.HDel(ctx, s.key("beats"), gone...).Err()
	}
	return out, nil
}

// Append keeps e at the head of the audit list, which holds the newest
// auditKeep entries.
func (s *OpsState) Append(ctx context.Context, e ops.AuditEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode audit entry: %w", err)
	}
	_, err = s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, s.key("audit"), data)
		p.LTrim(ctx, s.key("audit"), 0, auditKeep-1)
		return nil
	})
	return err
}

// Recent returns the newest n audit entries, newest first.
func (s *OpsState) Recent(ctx context.Context, n int) ([]ops.AuditEntry, error) {
	raws, err := s.client.LRange(ctx, s.key("audit"), 0, int64(n)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("read audit list: %w", err)
	}
	out := make([]ops.AuditEntry, 0, len(raws))
	for _, raw := range raws {
		var e ops.AuditEntry
		if json.Unmarshal([]byte(raw), &e) == nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// requestReplay: KEYS lock, pending, status, cancel; ARGV status.
var requestReplay = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[4])
return 1
`)

// claimReplay: KEYS lock, pending, cancel; ARGV owner, ttl ms.
var claimReplay = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local req = redis.call('GET', KEYS[2])
if not req then return false end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2], KEYS[3])
return req
`)

// renewReplay: KEYS lock, cancel; ARGV owner, ttl ms. -1: not the owner.
var renewReplay = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('EXISTS', KEYS[2])
`)

// reportReplay: KEYS lock, status; ARGV owner, status.
var reportReplay = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
`)

// releaseReplay writes the final status while the lock is the owner's, or
// free with no new request waiting (the lock expired during a long stall),
// and frees it. KEYS lock, status, cancel, pending; ARGV owner, status.
var releaseReplay = redis.NewScript(`
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or (not holder and redis.call('EXISTS', KEYS[4]) == 0) then
  redis.call('SET', KEYS[2], ARGV[2])
end
if holder == ARGV[1] then redis.call('DEL', KEYS[1], KEYS[3]) end
return 1
`)

// cancelReplay: KEYS lock, pending, status, cancel; ARGV withdrawn status,
// ttl ms. 1: withdrawn; 0: the runner is asked; -1: nothing to cancel.
var cancelReplay = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[3], ARGV[1])
  return 1
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SET', KEYS[4], '1', 'PX', ARGV[2])
  return 0
end
return -1
`)

func (s *OpsState) replayKeys() (lock, pending, status, cancel string) {
	return s.key("replay:lock"), s.key("replay:pending"), s.key("replay:status"), s.key("replay:cancel")
}

// Request records st as the requested replay unless one is requested or
// running.
func (s *OpsState) Request(ctx context.Context, st ops.ReplayStatus) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode replay status: %w", err)
	}
	lock, pending, status, cancel := s.replayKeys()
	n, err := requestReplay.Run(ctx, s.client, []string{lock, pending, status, cancel}, data).Int()
	if err != nil {
		return fmt.Errorf("request replay: %w", err)
	}
	if n == 0 {
		return ops.ErrReplayBusy
	}
	return nil
}

// Status is the replay's latest status and whether its lock is held.
func (s *OpsState) Status(ctx context.Context) (st ops.ReplayStatus, locked, ok bool, err error) {
	lock, _, status, _ := s.replayKeys()
	var get *redis.StringCmd
	var exists *redis.IntCmd
	if _, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		get, exists = p.Get(ctx, status), p.Exists(ctx, lock)
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return st, false, false, fmt.Errorf("read replay status: %w", err)
	}
	raw, err := get.Bytes()
	if errors.Is(err, redis.Nil) {
		return st, exists.Val() == 1, false, nil
	}
	if err != nil {
		return st, false, false, fmt.Errorf("read replay status: %w", err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, false, false, fmt.Errorf("decode replay status: %w", err)
	}
	return st, exists.Val() == 1, true, nil
}

// Cancel withdraws a requested replay, storing withdrawn as its status, or
// asks the running one to stop.
func (s *OpsState) Cancel(ctx context.Context, withdrawn ops.ReplayStatus) (bool, error) {
	data, err := json.Marshal(withdrawn)
	if err != nil {
		return false, fmt.Errorf("encode replay status: %w", err)
	}
	lock, pending, status, cancel := s.replayKeys()
	n, err := cancelReplay.Run(ctx, s.client, []string{lock, pending, status, cancel}, data, ops.LockTTL.Milliseconds()).Int()
	switch {
	case err != nil:
		return false, fmt.Errorf("cancel replay: %w", err)
	case n < 0:
		return false, ops.ErrNoReplay
	}
	return n == 1, nil
}

// Claim takes the replay lock for owner when a request waits and the lock
// is free, and returns the request.
func (s *OpsState) Claim(ctx context.Context, owner string, ttl time.Duration) (ops.ReplayStatus, bool, error) {
	lock, pending, _, cancel := s.replayKeys()
	raw, err := claimReplay.Run(ctx, s.client, []string{lock, pending, cancel}, owner, ttl.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return ops.ReplayStatus{}, false, nil
	}
	if err != nil {
		return ops.ReplayStatus{}, false, fmt.Errorf("claim replay: %w", err)
	}
	var st ops.ReplayStatus
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return st, false, fmt.Errorf("decode replay request: %w", err)
	}
	return st, true, nil
}

// Renew extends owner's lock and reports whether a cancel was asked for.
func (s *OpsState) Renew(ctx context.Context, owner string, ttl time.Duration) (bool, error) {
	lock, _, _, cancel := s.replayKeys()
	n, err := renewReplay.Run(ctx, s.client, []string{lock, cancel}, owner, ttl.Milliseconds()).Int()
	switch {
	case err != nil:
		return false, fmt.Errorf("renew replay lock: %w", err)
	case n < 0:
		return false, ops.ErrReplayLockLost
	}
	return n == 1, nil
}

// Report stores st while owner holds the lock.
func (s *OpsState) Report(ctx context.Context, owner string, st ops.ReplayStatus) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode replay status: %w", err)
	}
	lock, _, status, _ := s.replayKeys()
	return reportReplay.Run(ctx, s.client, []string{lock, status}, owner, data).Err()
}

// Release stores the final status and frees owner's lock.
func (s *OpsState) Release(ctx context.Context, owner string, st ops.ReplayStatus) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode replay status: %w", err)
	}
	lock, pending, status, cancel := s.replayKeys()
	return releaseReplay.Run(ctx, s.client, []string{lock, status, cancel, pending}, owner, data).Err()
}

// RecordVerify keeps r as verify's last result.
func (s *OpsState) RecordVerify(ctx context.Context, r ops.VerifyResult) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode verify result: %w", err)
	}
	return s.client.Set(ctx, s.key("verify"), data, 0).Err()
}

// LastVerify returns verify's last result; ok is false when verify never ran.
func (s *OpsState) LastVerify(ctx context.Context) (ops.VerifyResult, bool, error) {
	var r ops.VerifyResult
	raw, err := s.client.Get(ctx, s.key("verify")).Bytes()
	if errors.Is(err, redis.Nil) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("read verify result: %w", err)
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, false, fmt.Errorf("decode verify result: %w", err)
	}
	return r, true, nil
}

// BreakerState is the circuit breaker's state: closed, half-open or open.
func (s *CacheStore) BreakerState() string { return s.breaker.State().String() }

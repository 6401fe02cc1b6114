package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Counter in Redis, shared by every replica. Each operation is one Lua script,
// so Take is atomic over its keys. It needs a single Redis node (or all keys on one slot).
type Redis struct {
	c redis.UniversalClient
}

var _ Counter = (*Redis)(nil)

// NewRedis counts in the database of c.
func NewRedis(c redis.UniversalClient) *Redis { return &Redis{c: c} }

// takeScript: KEYS are the rules' keys, ARGV their limit and window (ms) in pairs. It returns
// 0 after counting, or the longest remaining window (ms) of a key at its limit.
var takeScript = redis.NewScript(`
local wait = 0
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[2*i-1]), tonumber(ARGV[2*i])
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= limit then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, window)
      ttl = window
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  redis.call('INCR', key)
  if redis.call('PTTL', key) < 0 then
    redis.call('PEXPIRE', key, tonumber(ARGV[2*i]))
  end
end
return 0
`)

var giveScript = redis.NewScript(`
for _, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n > 1 then
    redis.call('DECR', key)
  elseif n == 1 then
    redis.call('DEL', key)
  end
end
return 0
`)

// Take implements Counter.
func (r *Redis) Take(ctx context.Context, rules ...Rule) (time.Duration, error) {
	keys := make([]string, len(rules))
	args := make([]any, 0, 2*len(rules))
	for i, rule := range rules {
		keys[i] = rule.Key
		args = append(args, strconv.Itoa(rule.Limit), strconv.FormatInt(max(rule.Window.Milliseconds(), 1), 10))
	}
	ms, err := takeScript.Run(ctx, r.c, keys, args...).Int64()
	if err != nil {
		return 0, fmt.Errorf("ratelimit: redis take: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Give implements Counter.
func (r *Redis) Give(ctx context.Context, keys ...string) error {
	if err := giveScript.Run(ctx, r.c, keys).Err(); err != nil {
		return fmt.Errorf("ratelimit: redis give: %w", err)
	}
	return nil
}

// Reset implements Counter.
func (r *Redis) Reset(ctx context.Context, keys ...string) error {
	if err := r.c.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("ratelimit: redis reset: %w", err)
	}
	return nil
}

// Package ratelimit counts attempts in fixed windows, in Redis (shared by every replica) or in
// process memory, with a fallback from the first to the second while Redis fails; and limits
// every write of a service's API per user and per client address (Writes).
package ratelimit

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Rule is an allowance: at most Limit attempts under Key in a Window that starts with the
// first of them.
type Rule struct {
	Key    string
	Limit  int
	Window time.Duration
}

// Counter counts attempts. Implementations are safe for concurrent use, and Take is atomic
// over all its rules, across every process sharing the counter.
type Counter interface {
	// Take counts one attempt under every rule's key, unless a key has used its allowance:
	// then it counts nothing and returns the longest time until such a key's window ends.
	Take(ctx context.Context, rules ...Rule) (wait time.Duration, err error)
	// Give takes back one attempt under each key (a count never goes below zero).
	Give(ctx context.Context, keys ...string) error
	// Reset forgets the keys' counts.
	Reset(ctx context.Context, keys ...string) error
}

// Fallback is a Counter that uses Primary (Redis) and, while Primary fails, Secondary (in
// process), so that an outage of Redis weakens the limits to one replica's view instead of
// lifting them or refusing every request.
type Fallback struct {
	Primary, Secondary Counter
	Log                *slog.Logger
	// Pause, when set, is how long Take counts in Secondary alone after Primary failed, so
	// that an outage does not cost every request Primary's timeout.
	Pause time.Duration

	lastLog  atomic.Int64 // unix nanos of the last warning, to log an outage once a minute
	failedAt atomic.Int64 // unix nanos of Primary's last failure in Take
}

var _ Counter = (*Fallback)(nil)

func (f *Fallback) warn(ctx context.Context, op string, err error) {
	now := time.Now().UnixNano()
	last := f.lastLog.Load()
	if now-last > int64(time.Minute) && f.lastLog.CompareAndSwap(last, now) {
		f.Log.WarnContext(ctx, "rate limiter: Redis failed, counting in process", "op", op, "err", err)
	}
}

// Take counts in Primary, or in Secondary when Primary fails (or failed within Pause).
func (f *Fallback) Take(ctx context.Context, rules ...Rule) (time.Duration, error) {
	if f.Pause > 0 && time.Now().UnixNano()-f.failedAt.Load() < int64(f.Pause) {
		return f.Secondary.Take(ctx, rules...)
	}
	wait, err := f.Primary.Take(ctx, rules...)
	if err != nil && ctx.Err() == nil {
		f.failedAt.Store(time.Now().UnixNano())
		f.warn(ctx, "take", err)
		return f.Secondary.Take(ctx, rules...)
	}
	return wait, err
}

// Give gives back in both (Give never goes below zero, so the counter that did not count
// the attempt is unharmed).
func (f *Fallback) Give(ctx context.Context, keys ...string) error {
	if err := f.Primary.Give(ctx, keys...); err != nil {
		f.warn(ctx, "give", err)
	}
	return f.Secondary.Give(ctx, keys...)
}

// Reset resets in both.
func (f *Fallback) Reset(ctx context.Context, keys ...string) error {
	if err := f.Primary.Reset(ctx, keys...); err != nil {
		f.warn(ctx, "reset", err)
	}
	return f.Secondary.Reset(ctx, keys...)
}

// New is the counter of a service's limits: in rdb, shared by every replica, and in process
// memory while Redis fails (for a second after each failure, so that an outage costs few
// requests a timeout); in process memory alone when rdb is nil.
func New(rdb *redis.Client, log *slog.Logger) Counter {
	if rdb == nil {
		return NewMemory()
	}
	return &Fallback{Primary: NewRedis(rdb), Secondary: NewMemory(), Log: log, Pause: time.Second}
}

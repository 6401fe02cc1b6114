// Package limiter counts sign-in and sign-up attempts in fixed windows, in process memory or
// in Redis (shared by every replica), and adapts the counts to the throttles of package app.
package limiter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync/atomic"
	"time"
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
// lifting them or refusing every sign-in.
type Fallback struct {
	Primary, Secondary Counter
	Log                *slog.Logger

	lastLog atomic.Int64 // unix nanos of the last warning, to log an outage once a minute
}

var _ Counter = (*Fallback)(nil)

func (f *Fallback) warn(ctx context.Context, op string, err error) {
	now := time.Now().UnixNano()
	last := f.lastLog.Load()
	if now-last > int64(time.Minute) && f.lastLog.CompareAndSwap(last, now) {
		f.Log.WarnContext(ctx, "auth limiter: Redis failed, counting in process", "op", op, "err", err)
	}
}

// Take counts in Primary, or in Secondary when Primary fails.
func (f *Fallback) Take(ctx context.Context, rules ...Rule) (time.Duration, error) {
	wait, err := f.Primary.Take(ctx, rules...)
	if err != nil && ctx.Err() == nil {
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

// SignIn is the sign-in throttle (user.Throttle) over a Counter: at most EmailLimit failed
// attempts per email and ClientLimit per client address in Window.
type SignIn struct {
	Counter     Counter
	EmailLimit  int
	ClientLimit int
	Window      time.Duration
	Log         *slog.Logger
}

// KeyPrefix starts every key of the sign-in limiter.
const KeyPrefix = "ticketing:auth:signin:"

// emailKey hashes the email, so that the counter's store holds no addresses.
func emailKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return KeyPrefix + "email:" + hex.EncodeToString(sum[:16])
}

func clientKey(client string) string { return KeyPrefix + "client:" + client }

// Acquire reserves an attempt for email from client, or returns how long to wait.
func (s *SignIn) Acquire(ctx context.Context, email, client string) (time.Duration, error) {
	return s.Counter.Take(ctx,
		Rule{Key: emailKey(email), Limit: s.EmailLimit, Window: s.Window},
		Rule{Key: clientKey(client), Limit: s.ClientLimit, Window: s.Window})
}

// Succeeded clears the email's failures and gives the client its attempt back: only
// failures count against a client.
func (s *SignIn) Succeeded(ctx context.Context, email, client string) {
	if err := s.Counter.Reset(ctx, emailKey(email)); err != nil {
		s.Log.WarnContext(ctx, "sign-in limiter: reset", "err", err)
	}
	if err := s.Counter.Give(ctx, clientKey(client)); err != nil {
		s.Log.WarnContext(ctx, "sign-in limiter: give back", "err", err)
	}
}

// Release gives back an attempt that was not judged.
func (s *SignIn) Release(ctx context.Context, email, client string) {
	if err := s.Counter.Give(ctx, emailKey(email), clientKey(client)); err != nil {
		s.Log.WarnContext(ctx, "sign-in limiter: give back", "err", err)
	}
}

// SignUp is the sign-up throttle (app.SignUpThrottle) over a Counter: at most ClientLimit
// sign-ups per client address in ClientWindow, and GlobalLimit from everyone in GlobalWindow.
// Every attempt counts, whatever its outcome: each costs a hash.
type SignUp struct {
	Counter      Counter
	ClientLimit  int
	ClientWindow time.Duration
	GlobalLimit  int
	GlobalWindow time.Duration
}

// SignUpKeyPrefix starts every key of the sign-up limiter.
const SignUpKeyPrefix = "ticketing:auth:signup:"

// Acquire counts a sign-up from client, or returns how long to wait.
func (s *SignUp) Acquire(ctx context.Context, client string) (time.Duration, error) {
	return s.Counter.Take(ctx,
		Rule{Key: SignUpKeyPrefix + "client:" + client, Limit: s.ClientLimit, Window: s.ClientWindow},
		Rule{Key: SignUpKeyPrefix + "global", Limit: s.GlobalLimit, Window: s.GlobalWindow})
}

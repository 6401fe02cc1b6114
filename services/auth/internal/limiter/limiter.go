// Package limiter adapts the counters of common/ratelimit (Redis shared by every replica,
// falling back to process memory) to the sign-in and sign-up throttles of package app.
package limiter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"time"

	"ticketing/common/ratelimit"
)

// SignIn is the sign-in throttle (user.Throttle) over a ratelimit.Counter: at most EmailLimit failed
// attempts per email and ClientLimit per client address in Window.
type SignIn struct {
	Counter     ratelimit.Counter
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
		ratelimit.Rule{Key: emailKey(email), Limit: s.EmailLimit, Window: s.Window},
		ratelimit.Rule{Key: clientKey(client), Limit: s.ClientLimit, Window: s.Window})
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

// SignUp is the sign-up throttle (app.SignUpThrottle) over a ratelimit.Counter: at most ClientLimit
// sign-ups per client address in ClientWindow, and GlobalLimit from everyone in GlobalWindow.
// Every attempt counts, whatever its outcome: each costs a hash.
type SignUp struct {
	Counter      ratelimit.Counter
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
		ratelimit.Rule{Key: SignUpKeyPrefix + "client:" + client, Limit: s.ClientLimit, Window: s.ClientWindow},
		ratelimit.Rule{Key: SignUpKeyPrefix + "global", Limit: s.GlobalLimit, Window: s.GlobalWindow})
}

// Package app runs the auth service's flows, sign-up and sign-in, over ports for storage
// (the store), hashing (password) and throttling (limiter); the rules of emails and
// passwords are the user domain's.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"ticketing/common/events"
	"ticketing/services/auth/internal/password"
	"ticketing/services/auth/internal/user"
)

// Repository stores accounts.
type Repository interface {
	// Create stores a new account and returns it with its id; user.ErrEmailTaken when the
	// email is in use.
	Create(ctx context.Context, u user.User) (user.User, error)
	// ByEmail finds an account by normalised email; user.ErrNotFound when there is none.
	ByEmail(ctx context.Context, email string) (user.User, error)
	// SetPasswordHash replaces an account's hash if it still is old.
	SetPasswordHash(ctx context.Context, id, old, new string) error
	// ByID finds an account by id; user.ErrNotFound when there is none.
	ByID(ctx context.Context, id string) (user.User, error)
	// Revoke records e, a revocation of the account's sessions, to be published;
	// user.ErrNotFound when there is no such account.
	Revoke(ctx context.Context, id string, e events.SessionRevoked) error
	// ChangePassword replaces the account's hash if it still is old and records e in the
	// same write; user.ErrNotFound when the account is gone or its hash changed.
	ChangePassword(ctx context.Context, id, old, new string, e events.SessionRevoked) error
}

// Hasher hashes passwords and verifies them in constant time.
type Hasher interface {
	Hash(ctx context.Context, password string) (string, error)
	// Verify reports whether password matches encoded, and whether encoded should be
	// rehashed because it was made with other parameters.
	Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error)
}

// Throttle limits sign-in attempts per email and per client address. Acquire reserves an
// attempt and counts it as a failure until told otherwise; it answers a positive wait when
// either allowance is used up.
type Throttle interface {
	Acquire(ctx context.Context, email, client string) (wait time.Duration, err error)
	// Succeeded clears the email's failures and gives the client its attempt back.
	Succeeded(ctx context.Context, email, client string)
	// Release gives back an attempt that could not be judged (a fault on our side).
	Release(ctx context.Context, email, client string)
}

// SignUpThrottle limits sign-ups per client address and overall: Acquire counts one, or
// answers a positive wait when an allowance is used up.
type SignUpThrottle interface {
	Acquire(ctx context.Context, client string) (wait time.Duration, err error)
}

// Service runs the sign-up and sign-in flows.
type Service struct {
	users    Repository
	hasher   Hasher
	throttle Throttle
	// signUpHasher hashes new accounts' passwords in slots of its own, apart from sign-ins';
	// signUpThrottle limits sign-ups (nil: no limit).
	signUpHasher   Hasher
	signUpThrottle SignUpThrottle
	log            *slog.Logger
	now            func() time.Time
	dummy          string // hash of a random password, verified for unknown emails
}

// New makes the service; it hashes a random password once, so that a sign-in for an
// unknown email can verify against it and take as long as one with a wrong password.
func New(ctx context.Context, users Repository, hasher Hasher, throttle Throttle, log *slog.Logger) (*Service, error) {
	dummy, err := hasher.Hash(ctx, rand.Text())
	if err != nil {
		return nil, fmt.Errorf("dummy hash: %w", err)
	}
	return &Service{users: users, hasher: hasher, throttle: throttle, signUpHasher: hasher,
		log: log, now: time.Now, dummy: dummy}, nil
}

// LimitSignUps makes sign-ups hash with hasher, whose slots are apart from sign-ins', and
// pass throttle first. It returns s.
func (s *Service) LimitSignUps(hasher Hasher, throttle SignUpThrottle) *Service {
	s.signUpHasher, s.signUpThrottle = hasher, throttle
	return s
}

// busyWait is the Retry-After of a sign-up refused because its hashing slots are all taken:
// a slot frees up within a hash's time, tens of milliseconds.
const busyWait = time.Second

// SignUp creates an account for a request from client (its address). Errors: those of
// user.NewSignUp, user.ErrEmailTaken, *user.SignUpLimitedError (past the limits, or every
// sign-up hashing slot taken).
func (s *Service) SignUp(ctx context.Context, email, pw, client string) (user.User, error) {
	c, err := user.NewSignUp(email, pw)
	if err != nil {
		return user.User{}, err
	}
	if s.signUpThrottle != nil {
		wait, err := s.signUpThrottle.Acquire(ctx, client)
		if err != nil {
			return user.User{}, err
		}
		if wait > 0 {
			return user.User{}, &user.SignUpLimitedError{Wait: wait}
		}
	}
	hash, err := s.signUpHasher.Hash(ctx, c.Password)
	if errors.Is(err, password.ErrBusy) {
		return user.User{}, &user.SignUpLimitedError{Wait: busyWait, Busy: true}
	}
	if err != nil {
		return user.User{}, err
	}
	return s.users.Create(ctx, user.User{Email: c.Email, PasswordHash: hash, CreatedAt: s.now().UTC()})
}

// SignIn checks credentials from client (its address) and returns the account. Failures
// count against the email and the client; past the limits it answers a
// *user.RateLimitedError. An unknown email costs one verification, like a wrong password, so
// timing tells nothing. Errors: those of user.NewSignIn, user.ErrInvalidCredentials,
// *user.RateLimitedError.
func (s *Service) SignIn(ctx context.Context, email, password, client string) (user.User, error) {
	c, err := user.NewSignIn(email, password)
	if err != nil {
		return user.User{}, err
	}
	wait, err := s.throttle.Acquire(ctx, c.Email, client)
	if err != nil {
		return user.User{}, err
	}
	if wait > 0 {
		return user.User{}, &user.RateLimitedError{Wait: wait}
	}
	u, ok, err := s.check(ctx, c)
	switch {
	case err != nil:
		s.throttle.Release(context.WithoutCancel(ctx), c.Email, client)
		return user.User{}, err
	case !ok:
		return user.User{}, user.ErrInvalidCredentials
	}
	s.throttle.Succeeded(context.WithoutCancel(ctx), c.Email, client)
	return u, nil
}

// SignOut revokes a session: its token (tokenID, expiring at expires) is refused by every
// service from the moment each learns of it. A token of an account that no longer exists
// needs no revocation.
func (s *Service) SignOut(ctx context.Context, userID, tokenID string, expires time.Time) error {
	err := s.users.Revoke(ctx, userID, events.SessionRevoked{UserID: userID, TokenID: tokenID, ExpiresAt: expires.UTC()})
	if errors.Is(err, user.ErrNotFound) {
		return nil
	}
	return err
}

// PasswordChange is a signed-in user's request to replace their password, from client (its
// address). Every token of the user issued before IssuedBefore is revoked, until KeepUntil
// (IssuedBefore plus the tokens' lifetime).
type PasswordChange struct {
	UserID, Current, New, Client string
	IssuedBefore, KeepUntil      time.Time
}

// ChangePassword checks the current password (a wrong one counts as a failed sign-in for
// the account's email and the client), stores the new one and revokes the user's earlier
// sessions, in one write. Errors: user.ErrNotFound (no such account), user.ErrWrongPassword,
// user.ErrCurrentPasswordEmpty, user.ErrNewPasswordLength, *user.RateLimitedError.
func (s *Service) ChangePassword(ctx context.Context, c PasswordChange) (user.User, error) {
	if err := user.CheckPasswordChange(c.Current, c.New); err != nil {
		return user.User{}, err
	}
	u, err := s.users.ByID(ctx, c.UserID)
	if err != nil {
		return user.User{}, err
	}
	wait, err := s.throttle.Acquire(ctx, u.Email, c.Client)
	if err != nil {
		return user.User{}, err
	}
	if wait > 0 {
		return user.User{}, &user.RateLimitedError{Wait: wait}
	}
	ok, _, err := s.hasher.Verify(ctx, c.Current, u.PasswordHash)
	switch {
	case err != nil:
		s.throttle.Release(context.WithoutCancel(ctx), u.Email, c.Client)
		return user.User{}, err
	case !ok:
		return user.User{}, user.ErrWrongPassword
	}
	s.throttle.Succeeded(context.WithoutCancel(ctx), u.Email, c.Client)
	hash, err := s.hasher.Hash(ctx, c.New)
	if err != nil {
		return user.User{}, err
	}
	before := c.IssuedBefore.UTC()
	err = s.users.ChangePassword(ctx, u.ID, u.PasswordHash, hash,
		events.SessionRevoked{UserID: u.ID, IssuedBefore: &before, ExpiresAt: c.KeepUntil.UTC()})
	if err != nil {
		return user.User{}, err
	}
	u.PasswordHash = hash
	return u, nil
}

// check looks the account up and verifies the password, against the dummy hash when there
// is no account.
func (s *Service) check(ctx context.Context, c user.Credentials) (user.User, bool, error) {
	u, err := s.users.ByEmail(ctx, c.Email)
	if errors.Is(err, user.ErrNotFound) {
		_, _, err := s.hasher.Verify(ctx, c.Password, s.dummy)
		return user.User{}, false, err
	}
	if err != nil {
		return user.User{}, false, err
	}
	ok, rehash, err := s.hasher.Verify(ctx, c.Password, u.PasswordHash)
	if err != nil || !ok {
		return user.User{}, false, err
	}
	if rehash {
		s.rehash(ctx, u, c.Password)
	}
	return u, true, nil
}

// rehash stores the password under the current parameters. A failure is only logged: the
// old hash still verifies, and the next sign-in tries again.
func (s *Service) rehash(ctx context.Context, u user.User, password string) {
	hash, err := s.hasher.Hash(ctx, password)
	if err == nil {
		err = s.users.SetPasswordHash(ctx, u.ID, u.PasswordHash, hash)
	}
	if err != nil {
		s.log.WarnContext(ctx, "rehash of a password failed", "user_id", u.ID, "err", err)
	}
}

package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"ticketing/services/auth/internal/app/apptest"
	"ticketing/services/auth/internal/user"
)

func isInvalid(err error) bool {
	return errors.Is(err, user.ErrEmailInvalid) || errors.Is(err, user.ErrPasswordLength) || errors.Is(err, user.ErrPasswordEmpty)
}

// fakeHasher "hashes" as "v<version>:<password>" and records what it verified against.
type fakeHasher struct {
	mu       sync.Mutex
	version  string
	verified []string // encoded values passed to Verify
}

func (h *fakeHasher) Hash(_ context.Context, pw string) (string, error) {
	return h.version + ":" + pw, nil
}

func (h *fakeHasher) Verify(_ context.Context, pw, enc string) (bool, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.verified = append(h.verified, enc)
	v, p, _ := strings.Cut(enc, ":")
	return p == pw, v != h.version, nil
}

// fakeThrottle records the calls and refuses with wait when set.
type fakeThrottle struct {
	wait  time.Duration
	calls []string
}

func (f *fakeThrottle) Acquire(_ context.Context, email, client string) (time.Duration, error) {
	f.calls = append(f.calls, "acquire "+email+" "+client)
	return f.wait, nil
}
func (f *fakeThrottle) Succeeded(_ context.Context, email, client string) {
	f.calls = append(f.calls, "succeeded "+email+" "+client)
}
func (f *fakeThrottle) Release(_ context.Context, email, client string) {
	f.calls = append(f.calls, "release "+email+" "+client)
}

func newService(t *testing.T) (*Service, *apptest.Users, *fakeHasher, *fakeThrottle) {
	t.Helper()
	users := apptest.NewUsers()
	hasher := &fakeHasher{version: "v1"}
	throttle := &fakeThrottle{}
	s, err := New(t.Context(), users, hasher, throttle, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s, users, hasher, throttle
}

func TestSignUpStoresNormalisedEmailAndHash(t *testing.T) {
	s, users, _, _ := newService(t)
	u, err := s.SignUp(t.Context(), " Ann@Test.COM", "password1", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == "" || u.Email != "ann@test.com" || u.PasswordHash != "v1:password1" || u.CreatedAt.IsZero() {
		t.Errorf("SignUp = %+v", u)
	}
	if _, err := s.SignUp(t.Context(), "ANN@test.com", "password2", "192.0.2.1"); err != user.ErrEmailTaken {
		t.Errorf("second SignUp = %v, want user.ErrEmailTaken", err)
	}
	if _, err := s.SignUp(t.Context(), "bob@test.com", "short", "192.0.2.1"); !isInvalid(err) {
		t.Errorf("SignUp with a short password = %v, want Invalid", err)
	}
	if users.Len() != 1 {
		t.Errorf("%d accounts stored, want 1", users.Len())
	}
}

func TestSignIn(t *testing.T) {
	s, _, hasher, throttle := newService(t)
	if _, err := s.SignUp(t.Context(), "ann@test.com", "password1", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}

	u, err := s.SignIn(t.Context(), "ANN@test.com ", "password1", "10.0.0.1")
	if err != nil || u.Email != "ann@test.com" {
		t.Fatalf("SignIn = %+v, %v", u, err)
	}
	if _, err := s.SignIn(t.Context(), "ann@test.com", "password2", "10.0.0.1"); err != user.ErrInvalidCredentials {
		t.Errorf("wrong password: %v, want user.ErrInvalidCredentials", err)
	}
	want := []string{
		"acquire ann@test.com 10.0.0.1", "succeeded ann@test.com 10.0.0.1", // success clears
		"acquire ann@test.com 10.0.0.1", // a failure stays counted
	}
	if strings.Join(throttle.calls, "|") != strings.Join(want, "|") {
		t.Errorf("throttle calls %q, want %q", throttle.calls, want)
	}

	// An unknown email verifies against the dummy hash, as a wrong password verifies
	// against the account's: the same work, so the same time.
	hasher.verified = nil
	if _, err := s.SignIn(t.Context(), "nobody@test.com", "password1", "10.0.0.1"); err != user.ErrInvalidCredentials {
		t.Errorf("unknown email: %v, want user.ErrInvalidCredentials", err)
	}
	if len(hasher.verified) != 1 || hasher.verified[0] != s.dummy || !strings.HasPrefix(s.dummy, "v1:") {
		t.Errorf("unknown email verified against %q, want the dummy hash made with the current parameters", hasher.verified)
	}
}

func TestSignInRateLimited(t *testing.T) {
	s, _, hasher, throttle := newService(t)
	throttle.wait = 90 * time.Second
	_, err := s.SignIn(t.Context(), "ann@test.com", "password1", "10.0.0.1")
	var e *user.RateLimitedError
	if !errors.As(err, &e) || e.Wait != 90*time.Second {
		t.Fatalf("SignIn past the limit = %v, want RateLimited with RetryAfter 90s", err)
	}
	if len(hasher.verified) != 0 {
		t.Errorf("a refused attempt still verified a password")
	}
}

// A fault is no failure of the user's: the attempt is given back.
func TestSignInFaultReleasesTheAttempt(t *testing.T) {
	s, users, _, throttle := newService(t)
	users.Fail = errors.New("database down")
	if _, err := s.SignIn(t.Context(), "ann@test.com", "password1", "10.0.0.1"); !errors.Is(err, users.Fail) {
		t.Fatalf("SignIn = %v, want the store's error", err)
	}
	if got := throttle.calls[len(throttle.calls)-1]; got != "release ann@test.com 10.0.0.1" {
		t.Errorf("last throttle call %q, want a release", got)
	}
}

func TestSignInInvalidInputTouchesNothing(t *testing.T) {
	s, _, hasher, throttle := newService(t)
	if _, err := s.SignIn(t.Context(), "not-an-email", "password1", "10.0.0.1"); !isInvalid(err) {
		t.Errorf("SignIn(bad email) = %v, want Invalid", err)
	}
	if len(throttle.calls) != 0 || len(hasher.verified) != 0 {
		t.Errorf("invalid input reached the throttle (%v) or the hasher (%v)", throttle.calls, hasher.verified)
	}
}

// A hash made with older parameters is replaced on the next successful sign-in.
func TestSignInRehashesOldHashes(t *testing.T) {
	s, users, hasher, _ := newService(t)
	if _, err := s.SignUp(t.Context(), "ann@test.com", "password1", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	hasher.version = "v2"
	if _, err := s.SignIn(t.Context(), "ann@test.com", "password1", "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if got := users.Stored("ann@test.com").PasswordHash; got != "v2:password1" {
		t.Errorf("hash after sign-in = %q, want it rehashed with v2", got)
	}
}

// Sign-out revokes the token; a password change checks the current password (a wrong one
// counts as a failed sign-in), stores the new hash and revokes the user's earlier tokens in
// the same write.
func TestSignOutAndPasswordChangeRevoke(t *testing.T) {
	s, users, _, throttle := newService(t)
	u, err := s.SignUp(t.Context(), "ann@test.com", "password1", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	if err := s.SignOut(t.Context(), u.ID, "jti-1", exp); err != nil {
		t.Fatal(err)
	}
	if err := s.SignOut(t.Context(), "gone", "jti-2", exp); err != nil {
		t.Errorf("sign-out of an unknown account: %v, want nil (nothing to revoke)", err)
	}
	if revoked := users.Revoked(); len(revoked) != 1 || revoked[0].TokenID != "jti-1" || revoked[0].UserID != u.ID || revoked[0].Validate() != nil {
		t.Fatalf("revocations %+v", revoked)
	}

	cut := time.Now().Truncate(time.Second).Add(time.Second)
	change := PasswordChange{UserID: u.ID, Current: "wrong-pass", New: "password2", Client: "192.0.2.9", IssuedBefore: cut, KeepUntil: cut.Add(time.Hour)}
	throttle.calls = nil
	if _, err := s.ChangePassword(t.Context(), change); !errors.Is(err, user.ErrWrongPassword) {
		t.Fatalf("wrong current password: %v", err)
	}
	if strings.Join(throttle.calls, ";") != "acquire ann@test.com 192.0.2.9" {
		t.Errorf("throttle calls %v: a wrong current password must count as a failure", throttle.calls)
	}
	for _, bad := range []PasswordChange{{UserID: u.ID, New: "password2"}, {UserID: u.ID, Current: "password1", New: "short"}} {
		if _, err := s.ChangePassword(t.Context(), bad); !errors.Is(err, user.ErrCurrentPasswordEmpty) && !errors.Is(err, user.ErrNewPasswordLength) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if _, err := s.ChangePassword(t.Context(), PasswordChange{UserID: "gone", Current: "password1", New: "password2"}); !errors.Is(err, user.ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
	change.Current = "password1"
	if _, err := s.ChangePassword(t.Context(), change); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignIn(t.Context(), "ann@test.com", "password2", "192.0.2.1"); err != nil {
		t.Errorf("sign-in with the new password: %v", err)
	}
	revoked := users.Revoked()
	if len(revoked) != 2 {
		t.Fatalf("revocations %+v", revoked)
	}
	e := revoked[1]
	if e.UserID != u.ID || e.TokenID != "" || e.IssuedBefore == nil || !e.IssuedBefore.Equal(cut) || !e.ExpiresAt.Equal(cut.Add(time.Hour)) || e.Validate() != nil {
		t.Errorf("password change revocation %+v", e)
	}
}

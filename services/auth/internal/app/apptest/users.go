// Package apptest has an in-memory app.Repository for the auth service's tests.
package apptest

import (
	"context"
	"fmt"
	"sync"

	"ticketing/common/events"
	"ticketing/services/auth/internal/user"
)

// Users is an in-memory app.Repository: accounts by email, ids given in order of creation.
// Safe for concurrent use.
type Users struct {
	// Fail, when set, is the error of every ByEmail.
	Fail error

	mu      sync.Mutex
	byEmail map[string]user.User
	created int
	revoked []events.SessionRevoked
}

// NewUsers is an empty Users.
func NewUsers() *Users { return &Users{byEmail: map[string]user.User{}} }

// Revoked is the revocations written (by Revoke and ChangePassword), in order.
func (f *Users) Revoked() []events.SessionRevoked {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]events.SessionRevoked(nil), f.revoked...)
}

// Len is how many accounts there are.
func (f *Users) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.byEmail)
}

// Stored is the account of email as stored (the zero User when there is none).
func (f *Users) Stored(email string) user.User {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byEmail[email]
}

// Create stores u under a new id; user.ErrEmailTaken when its email has an account.
func (f *Users) Create(_ context.Context, u user.User) (user.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.byEmail[u.Email]; ok {
		return user.User{}, user.ErrEmailTaken
	}
	f.created++
	u.ID = fmt.Sprintf("%024x", f.created)
	f.byEmail[u.Email] = u
	return u, nil
}

// ByEmail finds the account of email; Fail when it is set.
func (f *Users) ByEmail(_ context.Context, email string) (user.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Fail != nil {
		return user.User{}, f.Fail
	}
	u, ok := f.byEmail[email]
	if !ok {
		return user.User{}, user.ErrNotFound
	}
	return u, nil
}

// ByID finds account id.
func (f *Users) ByID(_ context.Context, id string) (user.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.byEmail {
		if u.ID == id {
			return u, nil
		}
	}
	return user.User{}, user.ErrNotFound
}

// SetPasswordHash replaces the hash of account id if it is still old.
func (f *Users) SetPasswordHash(_ context.Context, id, old, new string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for e, u := range f.byEmail {
		if u.ID == id && u.PasswordHash == old {
			u.PasswordHash = new
			f.byEmail[e] = u
			return nil
		}
	}
	return user.ErrNotFound
}

// Revoke records e for account id.
func (f *Users) Revoke(ctx context.Context, id string, e events.SessionRevoked) error {
	if _, err := f.ByID(ctx, id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, e)
	return nil
}

// ChangePassword replaces the hash of account id if it is still old, and records e.
func (f *Users) ChangePassword(ctx context.Context, id, old, new string, e events.SessionRevoked) error {
	if err := f.SetPasswordHash(ctx, id, old, new); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, e)
	return nil
}

package authn

import (
	"sync"
	"time"
)

// Revocations are the sessions ended before their tokens expire, as every service learns
// them from the bus (session.revoked): single tokens by id, and every token of a user issued
// before a time. An entry is kept until the tokens it names have expired, then dropped. Safe
// for concurrent use.
type Revocations struct {
	mu        sync.RWMutex
	tokens    map[string]time.Time // token id -> when the token expires
	users     map[string]userCut
	now       func() time.Time
	lastSweep time.Time
}

// userCut revokes a user's tokens issued before before; kept until until.
type userCut struct{ before, until time.Time }

// NewRevocations is an empty set.
func NewRevocations() *Revocations { return NewRevocationsClock(time.Now) }

// NewRevocationsClock is an empty set reading time from now (for tests).
func NewRevocationsClock(now func() time.Time) *Revocations {
	return &Revocations{tokens: map[string]time.Time{}, users: map[string]userCut{}, now: now}
}

// sweepEvery bounds how often expired entries are dropped.
const sweepEvery = time.Minute

// RevokeToken refuses the token with id until expires (its exp); an entry already expired is
// not kept.
func (r *Revocations) RevokeToken(id string, expires time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweepLocked()
	if id != "" && expires.After(r.now()) && expires.After(r.tokens[id]) {
		r.tokens[id] = expires
	}
}

// RevokeUser refuses every token of user issued before before, and keeps doing so until
// until (the last exp such a token can have). A later cut of the same user replaces an
// earlier one.
func (r *Revocations) RevokeUser(user string, before, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweepLocked()
	if user == "" || !until.After(r.now()) {
		return
	}
	c := r.users[user]
	if before.After(c.before) {
		c.before = before
	}
	if until.After(c.until) {
		c.until = until
	}
	r.users[user] = c
}

// Revoked reports whether u's token is revoked.
func (r *Revocations) Revoked(u User) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, ok := r.tokens[u.TokenID]; ok && u.TokenID != "" {
		return true
	}
	c, ok := r.users[u.ID]
	return ok && u.IssuedAt.Before(c.before)
}

// Len is the number of entries held.
func (r *Revocations) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.tokens) + len(r.users)
}

// sweepLocked drops the entries whose tokens have all expired, at most once per sweepEvery.
// Call with mu held for writing.
func (r *Revocations) sweepLocked() {
	now := r.now()
	if now.Sub(r.lastSweep) < sweepEvery {
		return
	}
	r.lastSweep = now
	for id, exp := range r.tokens {
		if !exp.After(now) {
			delete(r.tokens, id)
		}
	}
	for id, c := range r.users {
		if !c.until.After(now) {
			delete(r.users, id)
		}
	}
}

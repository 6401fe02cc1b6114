package main

import (
	"testing"
	"time"
)

// TestRevocationAcrossServices: sign-out and a password change revoke tokens at auth, and
// the other services (tickets, orders), which learn it over NATS (session.revoked), refuse
// them; the session started by the password change, and other users' tokens, keep working.
func TestRevocationAcrossServices(t *testing.T) {
	s := startStorefrontStack(t, nil)
	c := newClient(t, s.URL)
	ann, bob := c.signup("revoke-ann@example.com"), c.signup("revoke-bob@example.com")
	phone := c.must(200, "POST", "/api/users/signin", "", map[string]string{"email": ann.Email, "password": "correct horse battery"}).Field("token")
	// works reports whether tok is accepted by tickets (listing) and by orders (reading).
	works := func(tok string) (tickets, orders bool) {
		return c.do("POST", "/api/tickets", tok, map[string]any{"title": "Revocation check", "price": 5}).Status == 201,
			c.do("GET", "/api/orders", tok, nil).Status == 200
	}
	for _, tok := range []string{ann.Token, phone, bob.Token} {
		if tk, or := works(tok); !tk || !or {
			t.Fatalf("a fresh token refused: tickets %v, orders %v", tk, or)
		}
	}

	c.must(200, "POST", "/api/users/signout", phone, nil)
	eventually(t, 30*time.Second, "the signed-out token refused by tickets and orders", func() bool {
		tk, or := works(phone)
		return !tk && !or
	})
	if c.do("POST", "/api/tickets", phone, map[string]any{"title": "x", "price": 5}).Status != 401 {
		t.Error("a revoked token: not 401")
	}
	if tk, or := works(ann.Token); !tk || !or {
		t.Fatal("signing out the phone signed out the laptop")
	}

	newTok := c.must(200, "PUT", "/api/users/password", ann.Token,
		map[string]string{"currentPassword": "correct horse battery", "newPassword": "battery staple horse"}).Field("token")
	eventually(t, 30*time.Second, "the token from before the password change refused by tickets and orders", func() bool {
		tk, or := works(ann.Token)
		return !tk && !or
	})
	for name, tok := range map[string]string{"the new session": newTok, "another user": bob.Token} {
		if tk, or := works(tok); !tk || !or {
			t.Errorf("%s refused: tickets %v, orders %v", name, tk, or)
		}
	}
	c.must(401, "POST", "/api/users/signin", "", map[string]string{"email": ann.Email, "password": "correct horse battery"})
	c.must(200, "POST", "/api/users/signin", "", map[string]string{"email": ann.Email, "password": "battery staple horse"})
}

package authn_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ticketing/common/authn"
)

func passKeys(t *testing.T) (*authn.PassSigner, *authn.PassVerifier) {
	t.Helper()
	priv, pub := keys(t)
	return authn.NewPassSigner(priv), authn.NewPassVerifier(pub)
}

// A pass is good only for its user and event, before it expires, signed by the queue's key,
// and as a pass (a session token of the auth service is not one).
func TestPass(t *testing.T) {
	signer, verifier := passKeys(t)
	forger, _ := passKeys(t)
	now := time.Now()
	good, err := signer.Issue("alice", "e1", now, now.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	p, err := verifier.Verify(good, "alice", "e1")
	if err != nil || p.UserID != "alice" || p.EventID != "e1" || p.Expires.Before(now) {
		t.Fatalf("good pass: %+v %v", p, err)
	}
	expired, _ := signer.Issue("alice", "e1", now.Add(-time.Hour), now.Add(-time.Minute))
	forged, _ := forger.Issue("alice", "e1", now, now.Add(10*time.Minute))
	priv, _, _ := authn.GenerateKey()
	sk, _ := authn.ParsePrivateKey(priv)
	session, _, _ := authn.NewSigner(sk, time.Hour).Issue("alice", "alice@example.com")
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2]
	for name, tc := range map[string]struct{ tok, user, event string }{
		"another user":  {good, "bob", "e1"},
		"another event": {good, "alice", "e2"},
		"expired":       {expired, "alice", "e1"},
		"forged":        {forged, "alice", "e1"},
		"a session":     {session, "alice", "e1"},
		"tampered":      {tampered, "alice", "e1"},
		"none":          {"", "alice", "e1"},
		"garbage":       {"not.a.pass", "alice", "e1"},
	} {
		if _, err := verifier.Verify(tc.tok, tc.user, tc.event); !errors.Is(err, authn.ErrInvalidPass) {
			t.Errorf("%s: %v, want ErrInvalidPass", name, err)
		}
	}
	var none *authn.PassVerifier
	if _, err := none.Verify(good, "alice", "e1"); !errors.Is(err, authn.ErrInvalidPass) {
		t.Errorf("no key: %v", err)
	}

	r := httptest.NewRequest("POST", "/", nil)
	r.AddCookie(&http.Cookie{Name: authn.PassCookie, Value: "c"})
	if authn.PassFrom(r) != "c" {
		t.Error("cookie")
	}
	r.Header.Set(authn.PassHeader, "h")
	if authn.PassFrom(r) != "h" {
		t.Error("the header comes first")
	}
}

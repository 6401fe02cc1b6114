package authn_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"ticketing/common/authn"
	"ticketing/common/testkit"
)

func keys(t testing.TB) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	k := testkit.NewKeyPair(t)
	return k.Private, k.Public
}

func TestIssueAndVerify(t *testing.T) {
	priv, pub := keys(t)
	tok, u, err := authn.NewSigner(priv, time.Hour).Issue("u1", "a@b.c")
	if err != nil {
		t.Fatal(err)
	}
	got, err := authn.NewVerifier(pub).Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "u1" || got.Email != "a@b.c" || !got.Expires.Equal(u.Expires) {
		t.Fatalf("got %+v, want %+v", got, u)
	}
}

func TestVerifyRefusesForgedTokens(t *testing.T) {
	priv, pub := keys(t)
	otherPriv, _ := keys(t)
	v := authn.NewVerifier(pub)
	now := time.Now()
	claims := jwt.MapClaims{"sub": "u1", "email": "a@b.c", "iss": authn.Issuer, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	expired := jwt.MapClaims{"sub": "u1", "iss": authn.Issuer, "iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}
	noExp := jwt.MapClaims{"sub": "u1", "iss": authn.Issuer, "iat": now.Unix()}
	noIat := jwt.MapClaims{"sub": "u1", "iss": authn.Issuer, "exp": now.Add(time.Hour).Unix()}
	otherIss := jwt.MapClaims{"sub": "u1", "iss": "someone", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	body := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u1","iss":"ticketing-auth","exp":9999999999}`))
	cases := map[string]string{
		"other key":                           sign(jwt.SigningMethodEdDSA, otherPriv, claims),
		"expired":                             sign(jwt.SigningMethodEdDSA, priv, expired),
		"no exp":                              sign(jwt.SigningMethodEdDSA, priv, noExp),
		"no iat":                              sign(jwt.SigningMethodEdDSA, priv, noIat),
		"other issuer":                        sign(jwt.SigningMethodEdDSA, priv, otherIss),
		"alg none":                            header + "." + body + ".",
		"HS256 with the public key as secret": sign(jwt.SigningMethodHS256, []byte(pub), claims),
		"garbage":                             "not.a.token",
		"tampered":                            tamper(sign(jwt.SigningMethodEdDSA, priv, claims)),
	}
	for name, tok := range cases {
		if _, err := v.Verify(tok); !errors.Is(err, authn.ErrInvalidToken) {
			t.Errorf("%s: accepted (err %v)", name, err)
		}
	}
}

// signRaw signs payload, any bytes, as the claims of an EdDSA token with key.
func signRaw(key ed25519.PrivateKey, payload []byte) string {
	enc := base64.RawURLEncoding
	unsigned := enc.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT"}`)) + "." + enc.EncodeToString(payload)
	return unsigned + "." + enc.EncodeToString(ed25519.Sign(key, []byte(unsigned)))
}

// FuzzVerify: whatever a validly signed token's claims hold, and whatever a token string is,
// the verifier answers without panicking, and what it accepts has a subject, an iat and an
// exp.
func FuzzVerify(f *testing.F) {
	priv, pub := keys(f)
	v := authn.NewVerifier(pub)
	now := time.Now().Unix()
	f.Add([]byte(fmt.Sprintf(`{"sub":"u1","iss":"ticketing-auth","iat":%d,"exp":%d,"jti":"j1"}`, now, now+3600)), "")
	f.Add([]byte(fmt.Sprintf(`{"sub":"u1","iss":"ticketing-auth","exp":%d}`, now+3600)), "a.b.c")
	f.Add([]byte(`{"sub":"u1","iss":"ticketing-auth","iat":null,"exp":1e300}`), "..")
	f.Add([]byte(`{"sub":5,"iat":"x"}`), "Bearer x")
	f.Add([]byte(`null`), "eyJhbGciOiJFZERTQSJ9.e30.")
	f.Fuzz(func(t *testing.T, claims []byte, raw string) {
		for _, tok := range []string{signRaw(priv, claims), raw} {
			u, err := v.Verify(tok)
			if err != nil {
				if !errors.Is(err, authn.ErrInvalidToken) {
					t.Fatalf("error %v is not ErrInvalidToken", err)
				}
				continue
			}
			if u.ID == "" || u.IssuedAt.IsZero() || u.Expires.IsZero() {
				t.Fatalf("accepted %+v from %q", u, claims)
			}
		}
	})
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","iss":"ticketing-auth","exp":9999999999}`))
	return strings.Join(parts, ".")
}

func TestTokenFromRequest(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer abc")
	if authn.TokenFrom(r) != "abc" {
		t.Error("bearer")
	}
	r = httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	authn.SetCookie(w, "xyz", time.Now().Add(time.Hour), true)
	c := w.Result().Cookies()[0]
	if !c.HttpOnly || !c.Secure || c.SameSite != 2 {
		t.Errorf("cookie %+v", c)
	}
	r.AddCookie(c)
	if authn.TokenFrom(r) != "xyz" {
		t.Error("cookie")
	}
}

func TestJWKSCarriesTheKey(t *testing.T) {
	_, pub := keys(t)
	doc := authn.JWKS(pub)["keys"].([]map[string]string)[0]
	x, err := base64.RawURLEncoding.DecodeString(doc["x"])
	if err != nil || !ed25519.PublicKey(x).Equal(pub) || doc["kid"] != authn.KeyID(pub) {
		t.Fatalf("jwks %v", doc)
	}
}

func BenchmarkVerify(b *testing.B) {
	priv, pub := keys(b)
	tok, _, _ := authn.NewSigner(priv, time.Hour).Issue("u1", "a@b.c")
	v := authn.NewVerifier(pub)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// A verifier with revocations refuses a revoked token and every token of a user issued before
// a cut, and accepts the others; a token without jti is refused.
func TestVerifierRefusesRevokedTokens(t *testing.T) {
	priv, pub := keys(t)
	signer := authn.NewSigner(priv, time.Hour)
	revoked := authn.NewRevocations()
	v := authn.NewVerifier(pub).WithRevocations(revoked)
	tok1, u1, _ := signer.Issue("u1", "a@b.c")
	tok2, _, _ := signer.Issue("u1", "a@b.c")
	tok3, _, _ := signer.Issue("u2", "d@e.f")
	if u1.TokenID == "" {
		t.Fatal("no token id")
	}
	revoked.RevokeToken(u1.TokenID, u1.Expires)
	if _, err := v.Verify(tok1); !errors.Is(err, authn.ErrInvalidToken) {
		t.Errorf("revoked token accepted (err %v)", err)
	}
	for _, tok := range []string{tok2, tok3} {
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("another token refused: %v", err)
		}
	}
	// A password change: every token of u1 issued before the cut; the new one, issued at the
	// cut, passes.
	cut := time.Now().Truncate(time.Second).Add(time.Second)
	revoked.RevokeUser("u1", cut, cut.Add(time.Hour))
	newTok, nu, _ := signer.IssueAfter("u1", "a@b.c", cut)
	if !nu.IssuedAt.Equal(cut) {
		t.Errorf("issued at %v, want the cut %v", nu.IssuedAt, cut)
	}
	if _, err := v.Verify(tok2); !errors.Is(err, authn.ErrInvalidToken) {
		t.Errorf("a token issued before the cut accepted (err %v)", err)
	}
	for _, tok := range []string{newTok, tok3} {
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("token refused: %v", err)
		}
	}
	noJTI := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "u1", "iss": authn.Issuer,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	s, _ := noJTI.SignedString(priv)
	if _, err := v.Verify(s); !errors.Is(err, authn.ErrInvalidToken) {
		t.Errorf("token without jti accepted (err %v)", err)
	}
}

// Entries are dropped once their tokens have expired, and never taken when already expired.
func TestRevocationsForgetExpiredEntries(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	r := authn.NewRevocationsClock(func() time.Time { return now })
	r.RevokeToken("old", now.Add(-time.Second))
	r.RevokeToken("t1", now.Add(time.Hour))
	r.RevokeUser("u1", now, now.Add(2*time.Hour))
	if r.Len() != 2 {
		t.Fatalf("%d entries, want 2", r.Len())
	}
	if !r.Revoked(authn.User{ID: "x", TokenID: "t1"}) || !r.Revoked(authn.User{ID: "u1", TokenID: "t9", IssuedAt: now.Add(-time.Minute)}) {
		t.Error("an entry is not in force")
	}
	if r.Revoked(authn.User{ID: "u1", TokenID: "t9", IssuedAt: now}) {
		t.Error("a token issued at the cut is refused")
	}
	now = now.Add(90 * time.Minute)
	r.RevokeToken("t2", now.Add(time.Hour)) // a write sweeps
	if r.Len() != 2 || r.Revoked(authn.User{ID: "x", TokenID: "t1"}) {
		t.Errorf("after t1's expiry: %d entries, t1 revoked %v", r.Len(), r.Revoked(authn.User{ID: "x", TokenID: "t1"}))
	}
	now = now.Add(time.Hour)
	r.RevokeToken("t3", now.Add(time.Hour))
	if r.Len() != 1 {
		t.Errorf("%d entries after every other expiry, want 1", r.Len())
	}
}

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
)

func keys(t testing.TB) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	privPEM, pubPEM, err := authn.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := authn.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := authn.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
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

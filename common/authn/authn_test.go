package authn_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
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
	otherIss := jwt.MapClaims{"sub": "u1", "iss": "someone", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	body := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u1","iss":"ticketing-auth","exp":9999999999}`))
	cases := map[string]string{
		"other key":                           sign(jwt.SigningMethodEdDSA, otherPriv, claims),
		"expired":                             sign(jwt.SigningMethodEdDSA, priv, expired),
		"no exp":                              sign(jwt.SigningMethodEdDSA, priv, noExp),
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

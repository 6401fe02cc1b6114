// Package authn issues and verifies the platform's session tokens: JWTs signed with Ed25519
// (EdDSA) by the auth service, verified by every service with the public key alone.
package authn

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is the iss claim of every token.
const Issuer = "ticketing-auth"

// CookieName is the session cookie that browsers carry.
const CookieName = "session"

// User is who a verified token speaks for.
type User struct {
	ID       string    `json:"id"`
	Email    string    `json:"email"`
	TokenID  string    `json:"-"` // the token's jti, by which it can be revoked
	IssuedAt time.Time `json:"-"`
	Expires  time.Time `json:"-"`
}

type claims struct {
	Email string `json:"email"`
	jwt.RegisteredClaims
}

// Signer issues tokens with a private key. Only the auth service has one.
type Signer struct {
	key ed25519.PrivateKey
	kid string
	ttl time.Duration
}

// NewSigner makes a signer whose tokens live for ttl.
func NewSigner(key ed25519.PrivateKey, ttl time.Duration) *Signer {
	return &Signer{key: key, kid: KeyID(key.Public().(ed25519.PublicKey)), ttl: ttl}
}

// TTL is the lifetime of the tokens issued.
func (s *Signer) TTL() time.Duration { return s.ttl }

// Issue signs a token for a user and returns it with its claims.
func (s *Signer) Issue(userID, email string) (string, User, error) {
	return s.IssueAfter(userID, email, time.Time{})
}

// IssueAfter is Issue with an iat no earlier than notBefore (at most a second ahead of the
// clock): the token issued with a password change must outlive the revocation of every token
// issued before the change, whose times are whole seconds.
func (s *Signer) IssueAfter(userID, email string, notBefore time.Time) (string, User, error) {
	now := time.Now().Truncate(time.Second)
	if nb := notBefore.Truncate(time.Second); nb.After(now) {
		now = nb
	}
	u := User{ID: userID, Email: email, TokenID: rand.Text(), IssuedAt: now, Expires: now.Add(s.ttl)}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims{
		Email: email,
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        u.TokenID,
			Issuer:    Issuer,
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(u.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(u.Expires),
		},
	})
	t.Header["kid"] = s.kid
	tok, err := t.SignedString(s.key)
	return tok, u, err
}

// Verifier checks tokens with a public key, and refuses the revoked ones.
type Verifier struct {
	key     ed25519.PublicKey
	parser  *jwt.Parser
	revoked *Revocations
}

// NewVerifier makes a verifier for tokens signed by key's private half.
func NewVerifier(key ed25519.PublicKey) *Verifier {
	return &Verifier{key: key, parser: jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(5*time.Second),
	)}
}

// WithRevocations makes v refuse the tokens that r holds revoked; it returns v.
func (v *Verifier) WithRevocations(r *Revocations) *Verifier {
	v.revoked = r
	return v
}

// ErrInvalidToken is every way a token can fail: bad signature, other algorithm, expired,
// revoked...
var ErrInvalidToken = errors.New("invalid token")

// Verify checks tok and returns its user.
func (v *Verifier) Verify(tok string) (User, error) {
	var c claims
	_, err := v.parser.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return v.key, nil })
	if err != nil {
		return User{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	switch {
	case c.Subject == "":
		return User{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
	case c.IssuedAt == nil: // the parser checks iat only when present; every token of ours has one
		return User{}, fmt.Errorf("%w: no iat", ErrInvalidToken)
	case c.ExpiresAt == nil: // WithExpirationRequired refuses this already; kept so a nil never reaches below
		return User{}, fmt.Errorf("%w: no exp", ErrInvalidToken)
	case c.ID == "": // every token has an id, so that it can be revoked
		return User{}, fmt.Errorf("%w: no jti", ErrInvalidToken)
	}
	u := User{ID: c.Subject, Email: c.Email, TokenID: c.ID, IssuedAt: c.IssuedAt.Time, Expires: c.ExpiresAt.Time}
	if v.revoked != nil && v.revoked.Revoked(u) {
		return User{}, fmt.Errorf("%w: revoked", ErrInvalidToken)
	}
	return u, nil
}

// TokenFrom is the token a request carries: the Authorization bearer first, then the cookie.
func TokenFrom(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value
	}
	return ""
}

// SetCookie sets the HttpOnly session cookie, Secure when secure.
func SetCookie(w http.ResponseWriter, tok string, expires time.Time, secure bool) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: tok, Path: "/", Expires: expires,
		MaxAge: int(time.Until(expires).Seconds()), HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
}

// ClearCookie removes the session cookie.
func ClearCookie(w http.ResponseWriter, secure bool) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
}

type userKey struct{}

// WithUser returns ctx carrying u.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom is the signed-in user of ctx.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}

// GenerateKey makes a fresh key pair as PEM (PKCS#8 private, PKIX public), for tests and the
// dev stack; production keys come from the environment.
func GenerateKey() (privatePEM, publicPEM string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", "", err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})), nil
}

// ParsePrivateKey reads an Ed25519 private key from PKCS#8 PEM.
func ParsePrivateKey(p string) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, errors.New("private key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("private key: not Ed25519")
	}
	return ek, nil
}

// ParsePublicKey reads an Ed25519 public key from PKIX PEM.
func ParsePublicKey(p string) (ed25519.PublicKey, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, errors.New("public key: no PEM block")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("public key: not Ed25519")
	}
	return ek, nil
}

// KeyID is the RFC 7638 thumbprint of an Ed25519 public key, used as the JWT kid.
func KeyID(pub ed25519.PublicKey) string {
	x := base64.RawURLEncoding.EncodeToString(pub)
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// JWKS is the JSON Web Key Set document publishing pub.
func JWKS(pub ed25519.PublicKey) map[string]any {
	return map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
		"kid": KeyID(pub), "x": base64.RawURLEncoding.EncodeToString(pub),
	}}}
}

package authn

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Queue passes: the waiting room admits a buyer to an event's sale by giving them a pass, a
// JWT signed with the queue service's Ed25519 key, for one user and one event, with a short
// life. The orders service verifies it with the public key alone, as every service verifies
// session tokens.
const (
	// PassIssuer is the iss claim of every pass.
	PassIssuer = "ticketing-queue"
	// PassHeader and PassCookie are where a request carries its pass.
	PassHeader = "Queue-Pass"
	PassCookie = "queue_pass"
)

// Pass is what a verified pass grants: UserID may order tickets of EventID until Expires.
type Pass struct {
	UserID  string
	EventID string
	Expires time.Time
}

type passClaims struct {
	EventID string `json:"evt"`
	jwt.RegisteredClaims
}

// PassSigner issues passes. Only the queue service has one.
type PassSigner struct {
	key ed25519.PrivateKey
	kid string
}

// NewPassSigner signs passes with key.
func NewPassSigner(key ed25519.PrivateKey) *PassSigner {
	return &PassSigner{key: key, kid: KeyID(key.Public().(ed25519.PublicKey))}
}

// Issue signs a pass for userID and eventID, valid from now until expires.
func (s *PassSigner) Issue(userID, eventID string, now, expires time.Time) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, passClaims{
		EventID: eventID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    PassIssuer,
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(now.Truncate(time.Second)),
			ExpiresAt: jwt.NewNumericDate(expires),
		},
	})
	t.Header["kid"] = s.kid
	return t.SignedString(s.key)
}

// PassVerifier checks passes with the queue's public key.
type PassVerifier struct {
	key    ed25519.PublicKey
	parser *jwt.Parser
}

// NewPassVerifier verifies passes signed by key's private half.
func NewPassVerifier(key ed25519.PublicKey) *PassVerifier {
	return &PassVerifier{key: key, parser: jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(PassIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(2*time.Second),
	)}
}

// ErrInvalidPass is every way a pass can fail: missing, forged, expired, for another user or
// another event.
var ErrInvalidPass = errors.New("invalid queue pass")

// Verify checks that tok is a valid pass of userID for eventID.
func (v *PassVerifier) Verify(tok, userID, eventID string) (Pass, error) {
	if v == nil || len(v.key) != ed25519.PublicKeySize {
		return Pass{}, fmt.Errorf("%w: no queue key is configured", ErrInvalidPass)
	}
	if tok == "" {
		return Pass{}, fmt.Errorf("%w: none sent", ErrInvalidPass)
	}
	var c passClaims
	if _, err := v.parser.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return v.key, nil }); err != nil {
		return Pass{}, fmt.Errorf("%w: %v", ErrInvalidPass, err)
	}
	switch {
	case c.Subject != userID:
		return Pass{}, fmt.Errorf("%w: issued to another user", ErrInvalidPass)
	case c.EventID != eventID:
		return Pass{}, fmt.Errorf("%w: issued for another event", ErrInvalidPass)
	}
	return Pass{UserID: c.Subject, EventID: c.EventID, Expires: c.ExpiresAt.Time}, nil
}

// PassFrom is the pass a request carries: the Queue-Pass header first, then the cookie.
func PassFrom(r *http.Request) string {
	if h := r.Header.Get(PassHeader); h != "" {
		return h
	}
	if c, err := r.Cookie(PassCookie); err == nil {
		return c.Value
	}
	return ""
}

// Package user is the auth service's domain: accounts, the rules for emails and passwords,
// and the sign-up and sign-in flows over ports for storage, hashing and throttling.
package user

import (
	"errors"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"ticketing/common/errs"
)

// User is an account.
type User struct {
	ID           string
	Email        string // normalised: see NormalizeEmail
	PasswordHash string // argon2id PHC string
	CreatedAt    time.Time
}

// Rules for credentials.
const (
	MaxEmailLength    = 254 // RFC 5321's limit on a forward path, less the angle brackets
	MinPasswordLength = 8   // characters (runes), as NIST SP 800-63B asks
	MaxPasswordLength = 128 // characters (runes)
)

// Errors of the flows. They carry their errs kind, so the web layer maps them unchanged.
var (
	ErrEmailTaken         = errs.New(errs.Conflict, "Email in use")
	ErrInvalidCredentials = errs.New(errs.Unauthenticated, "Invalid credentials")
	ErrNotFound           = errors.New("user not found")
)

// NormalizeEmail is the form in which emails are stored and compared: trimmed and lower
// case, so that "Ann@Example.com " and "ann@example.com" are one account.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidEmail reports whether a normalised email is a sane address: a bare addr-spec that
// net/mail parses back to itself (no display name, no angle brackets, no comments), at most
// MaxEmailLength bytes, whose domain has a dot and no empty label.
func ValidEmail(email string) bool {
	if email == "" || len(email) > MaxEmailLength {
		return false
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return false
	}
	at := strings.LastIndexByte(email, '@')
	domain := email[at+1:]
	if strings.HasPrefix(domain, "[") { // domain literal
		return false
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" {
			return false
		}
	}
	return true
}

// ValidPassword reports whether a new password has MinPasswordLength to MaxPasswordLength
// characters. There are no composition rules (NIST SP 800-63B 5.1.1.2).
func ValidPassword(p string) bool {
	n := utf8.RuneCountInString(p)
	return n >= MinPasswordLength && n <= MaxPasswordLength
}

// Credentials are an email (normalised) and a password, as a user types them.
type Credentials struct {
	Email    string
	Password string
}

// Error messages of the field rules.
const (
	msgEmail         = "Email must be valid"
	msgPassword      = "Password must be between 8 and 128 characters"
	msgPasswordEmpty = "You must supply a password"
)

// NewSignUp checks the credentials of a new account; the error names each field at fault.
func NewSignUp(email, password string) (Credentials, error) {
	c := Credentials{Email: NormalizeEmail(email), Password: password}
	var v errs.Validation
	v.Check(ValidEmail(c.Email), "email", msgEmail)
	v.Check(ValidPassword(password), "password", msgPassword)
	return c, v.Err()
}

// NewSignIn checks the shape of sign-in credentials: a valid email and a password. Whether
// they match an account is SignIn's business.
func NewSignIn(email, password string) (Credentials, error) {
	c := Credentials{Email: NormalizeEmail(email), Password: password}
	var v errs.Validation
	v.Check(ValidEmail(c.Email), "email", msgEmail)
	v.Check(password != "", "password", msgPasswordEmpty)
	return c, v.Err()
}

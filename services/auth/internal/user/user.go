// Package user is the auth service's domain: accounts and the rules for emails and
// passwords. Its errors are plain; the API words them for clients.
package user

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
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

// Errors of the rules.
var (
	// ErrEmailTaken: another account has the email.
	ErrEmailTaken = errors.New("email in use")
	// ErrInvalidCredentials: no account has the email, or the password is not its password.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrNotFound: no account has the email (or the id).
	ErrNotFound = errors.New("user not found")
	// Errors of a password change: the current password is not the account's, or empty; the
	// new one breaks the length rule.
	ErrWrongPassword        = errors.New("current password is wrong")
	ErrCurrentPasswordEmpty = errors.New("current password is empty")
	ErrNewPasswordLength    = errors.New("new password must be between 8 and 128 characters")

	// Errors of credentials.
	ErrEmailInvalid   = errors.New("email is not a valid address")
	ErrPasswordLength = errors.New("password must be between 8 and 128 characters")
	ErrPasswordEmpty  = errors.New("password is empty")
)

// RateLimitedError refuses a sign-in attempt past the limits; Wait is how long until the
// window ends.
type RateLimitedError struct{ Wait time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many failed sign-in attempts; try again in %s", e.Wait)
}

// SignUpLimitedError refuses a sign-up: the client's or everyone's allowance of sign-ups is
// used up, or (Busy) the hashing slots kept for sign-ups are all taken. Wait is how long to
// wait before trying again.
type SignUpLimitedError struct {
	Wait time.Duration
	Busy bool
}

func (e *SignUpLimitedError) Error() string {
	if e.Busy {
		return fmt.Sprintf("too many sign-ups at once; try again in %s", e.Wait)
	}
	return fmt.Sprintf("too many sign-ups; try again in %s", e.Wait)
}

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

// NewSignUp checks the credentials of a new account; the error joins ErrEmailInvalid and
// ErrPasswordLength, as they apply.
func NewSignUp(email, password string) (Credentials, error) {
	c := Credentials{Email: NormalizeEmail(email), Password: password}
	return c, errors.Join(check(ValidEmail(c.Email), ErrEmailInvalid), check(ValidPassword(password), ErrPasswordLength))
}

// NewSignIn checks the shape of sign-in credentials: a valid email and a password. Whether
// they match an account is SignIn's business. The error joins ErrEmailInvalid and
// ErrPasswordEmpty, as they apply.
func NewSignIn(email, password string) (Credentials, error) {
	c := Credentials{Email: NormalizeEmail(email), Password: password}
	return c, errors.Join(check(ValidEmail(c.Email), ErrEmailInvalid), check(password != "", ErrPasswordEmpty))
}

// check is err unless ok.
func check(ok bool, err error) error {
	if ok {
		return nil
	}
	return err
}

// CheckPasswordChange checks a password change's fields: the current password typed (whether
// it is the account's is the flow's business) and the new one's length. The error joins
// ErrCurrentPasswordEmpty and ErrNewPasswordLength, as they apply.
func CheckPasswordChange(current, next string) error {
	return errors.Join(check(current != "", ErrCurrentPasswordEmpty), check(ValidPassword(next), ErrNewPasswordLength))
}

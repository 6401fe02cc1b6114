// Package errs names the ways a request can fail and maps each to one HTTP status.
//
// Handlers and stores return *Error values (or wrap them); the web package turns them into
// the error shape of the public API. The client sees Message and Fields; the log sees Err.
package errs

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Kind is a class of failure with one HTTP status.
type Kind int

// The kinds, one per failure a client can act on.
const (
	Internal         Kind = iota // a fault on our side: 500, message hidden
	Invalid                      // the input breaks a rule: 400
	Unauthenticated              // not signed in, or bad credentials: 401
	PaymentRequired              // the card was declined: 402
	Forbidden                    // signed in but not allowed: 403
	NotFound                     // no such resource (also a malformed id): 404
	Conflict                     // the resource's state forbids it: 409
	TooLarge                     // body over the limit: 413
	UnsupportedMedia             // body is not JSON: 415
	RateLimited                  // too many attempts: 429
	Unavailable                  // a dependency is down: 503
	Unprocessable                // well-formed but contradicts an earlier request (an Idempotency-Key reused): 422
)

var statuses = map[Kind]int{
	Internal:         http.StatusInternalServerError,
	Invalid:          http.StatusBadRequest,
	Unauthenticated:  http.StatusUnauthorized,
	PaymentRequired:  http.StatusPaymentRequired,
	Forbidden:        http.StatusForbidden,
	NotFound:         http.StatusNotFound,
	Conflict:         http.StatusConflict,
	TooLarge:         http.StatusRequestEntityTooLarge,
	UnsupportedMedia: http.StatusUnsupportedMediaType,
	RateLimited:      http.StatusTooManyRequests,
	Unavailable:      http.StatusServiceUnavailable,
	Unprocessable:    http.StatusUnprocessableEntity,
}

// Status is the HTTP status for a kind.
func (k Kind) Status() int {
	if s, ok := statuses[k]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// FieldError is one validation failure, named by the JSON field it concerns.
type FieldError struct {
	Field   string
	Message string
}

// Error is a failure with a kind, a message safe for clients, and an optional cause.
type Error struct {
	Kind       Kind
	Message    string
	Fields     []FieldError
	RetryAfter time.Duration // for RateLimited
	Err        error         // the cause, for logs only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New makes an error of a kind with a client-facing message.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap makes an error of a kind that keeps cause for the logs.
func Wrap(k Kind, cause error, message string) *Error {
	return &Error{Kind: k, Message: message, Err: cause}
}

// Field makes a validation error about one field.
func Field(field, message string) *Error {
	return &Error{Kind: Invalid, Message: message, Fields: []FieldError{{Field: field, Message: message}}}
}

// Validation collects field errors; its Err is nil when nothing was added.
type Validation struct{ fields []FieldError }

// Add records that field breaks a rule.
func (v *Validation) Add(field, message string) {
	v.fields = append(v.fields, FieldError{field, message})
}

// Check records message for field unless ok.
func (v *Validation) Check(ok bool, field, message string) {
	if !ok {
		v.Add(field, message)
	}
}

// Err is nil when every check passed, else an Invalid error listing them.
func (v *Validation) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &Error{Kind: Invalid, Message: v.fields[0].Message, Fields: v.fields}
}

// KindOf is the kind of err, Internal when it is not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

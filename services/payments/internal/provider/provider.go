// Package provider is the port to the card processor: a Stripe implementation over
// stripe-go's PaymentIntents, and an offline one that follows Stripe's test cards for tests
// and the dev stack.
package provider

import (
	"context"
	"errors"
	"fmt"
)

// Provider charges, prepares and refunds payments. Every call carries an idempotency key:
// the same key with the same parameters returns the first call's result and never moves money
// twice; the same key with other parameters is an ErrIdempotency.
type Provider interface {
	// Charge creates and confirms a PaymentIntent with a payment method or a card token.
	// A declined card is a *DeclinedError.
	Charge(ctx context.Context, req ChargeRequest) (Intent, error)
	// CreateIntent creates a PaymentIntent without confirming it, for Stripe.js to confirm
	// in the browser with the returned client secret.
	CreateIntent(ctx context.Context, req IntentRequest) (Intent, error)
	// Refund refunds a PaymentIntent in full.
	Refund(ctx context.Context, req RefundRequest) (Refund, error)
	// Lookup reads the processor's state of an attempt by the id the payment keeps: a
	// PaymentIntent (Stripe, offline), or a Razorpay order's payments (succeeded, with the
	// captured payment's id, when one was captured). It settles a payment whose webhook did
	// not come. ErrUnknownIntent when the processor has no such id.
	Lookup(ctx context.Context, id string) (Intent, error)
	// Name is "stripe" or "offline", for logs.
	Name() string
}

// ChargeRequest is one attempt to charge an order. Exactly one of PaymentMethod and Token is
// set.
type ChargeRequest struct {
	OrderID        string
	Attempt        int
	AmountCents    int64
	Currency       string
	PaymentMethod  string // a PaymentMethod id, such as pm_card_visa
	Token          string // a legacy Stripe.js card token, such as tok_visa
	IdempotencyKey string
}

// IntentRequest prepares a PaymentIntent for the browser to confirm.
type IntentRequest struct {
	OrderID        string
	Attempt        int
	AmountCents    int64
	Currency       string
	IdempotencyKey string
}

// RefundRequest refunds a PaymentIntent in full.
type RefundRequest struct {
	OrderID         string
	PaymentIntentID string
	Reason          string // for metadata and logs
	IdempotencyKey  string
}

// Intent is the state of a PaymentIntent after a call.
type Intent struct {
	ID           string
	Status       IntentStatus
	ClientSecret string
	AmountCents  int64
	// Failure is the processor's message for the last failed payment of the intent (then
	// requires_payment_method again, at Stripe); "" when none failed.
	Failure string
}

// Refund is a refund as the provider recorded it.
type Refund struct {
	ID     string
	Status string
}

// IntentStatus is a PaymentIntent's status, with Stripe's names.
type IntentStatus string

// The statuses the service acts on; others are treated as not paid.
const (
	StatusSucceeded             IntentStatus = "succeeded"
	StatusProcessing            IntentStatus = "processing"
	StatusRequiresPaymentMethod IntentStatus = "requires_payment_method"
	StatusRequiresAction        IntentStatus = "requires_action"
	StatusCanceled              IntentStatus = "canceled"
)

// Metadata keys set on every PaymentIntent, read back from webhooks.
const (
	MetaOrderID = "orderId"
	MetaAttempt = "attempt"
)

// DeclinedError is a card the processor refused. Message is the processor's text, safe to
// show to the customer.
type DeclinedError struct {
	Message     string
	Code        string
	DeclineCode string
	IntentID    string // the PaymentIntent left unpaid, when one was created
}

func (e *DeclinedError) Error() string {
	return fmt.Sprintf("card declined (%s %s): %s", e.Code, e.DeclineCode, e.Message)
}

// InvalidError is a request the processor rejected, such as an unknown payment method. Param
// names the processor's parameter; Message is safe to show.
type InvalidError struct {
	Param   string
	Message string
}

func (e *InvalidError) Error() string { return "invalid request (" + e.Param + "): " + e.Message }

// ErrIdempotency is an idempotency key reused with other parameters, or used by a request
// that is still running.
var ErrIdempotency = errors.New("idempotency key in use with other parameters or by a running request")

// ErrUnknownIntent is a Lookup of an id the processor does not know.
var ErrUnknownIntent = errors.New("the processor knows no such payment")

// DeclinedMessage is the processor's text for a generic decline.
const DeclinedMessage = "Your card was declined."

// Package payment holds the payments service's rules: when an order may be paid, the states
// of a payment and the moves between them (Next, the transition table), the events that
// announce them, and the idempotency keys sent to the processor. It imports no driver and no
// HTTP package; its errors are plain, and the API words them for clients.
package payment

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"ticketing/common/events"
)

// Order is the payments service's replica of an order; its statuses are the event
// contract's (events.OrderStatus).
type Order struct {
	ID         string
	UserID     string
	PriceCents int64
	Status     events.OrderStatus
	Version    int64
	ExpiresAt  time.Time
	TicketID   string
}

// Status is where a payment stands.
type Status string

// Payment statuses. processing: a charge is being attempted (or its outcome was not recorded
// yet); requires_payment_method: a PaymentIntent waits for Stripe.js in the browser;
// succeeded: charged; failed: the last attempt was declined or refused (a new attempt may
// start); refunded: charged, then refunded because the order was cancelled.
const (
	StatusProcessing            Status = "processing"
	StatusRequiresPaymentMethod Status = "requires_payment_method"
	StatusSucceeded             Status = "succeeded"
	StatusFailed                Status = "failed"
	StatusRefunded              Status = "refunded"
)

// Payment is the one payment of an order.
type Payment struct {
	ID          string
	OrderID     string
	UserID      string
	Status      Status
	Attempt     int
	StripeID    string
	AmountCents int64
	Currency    string
	Failure     string
	CreatedAt   time.Time
	// OrderCancelled is set once the order is known to be cancelled: a payment that
	// succeeds with it set is refunded, by whichever path sees it first or by the sweeper.
	OrderCancelled bool
}

// RefundReason is the reason published with payment.refunded for an order cancelled while
// its card was being charged.
const RefundReason = "order cancelled"

// Errors of the rules and the flows.
var (
	ErrOrderNotFound  = errors.New("order not found")
	ErrNotFound       = errors.New("payment not found")
	ErrNotOwner       = errors.New("order belongs to another user")
	ErrOrderCancelled = errors.New("order is cancelled")
	ErrOrderPaid      = errors.New("order is paid")
	ErrOrderExpired   = errors.New("order has expired")
	ErrInProgress     = errors.New("a payment for the order is in progress")
	ErrAwaitingClient = errors.New("the payment awaits confirmation in the browser")
	ErrRefunded       = errors.New("the payment was refunded")
	// ErrRefundedLate: the order was cancelled while its card was charged; the charge was
	// refunded.
	ErrRefundedLate = errors.New("the order was cancelled while its card was charged; refunded")
	// ErrUnavailable: the processor did not answer; the outcome of a charge is unknown, so the
	// payment stays processing and a retry sends the same idempotency key.
	ErrUnavailable = errors.New("the payment processor is unavailable")

	// ErrNotApplicable: the event does not apply to the payment's status (Next).
	ErrNotApplicable = errors.New("the payment's status does not allow it")
	// ErrOtherAttempt: the event concerns an attempt that is not the payment's current one.
	ErrOtherAttempt = errors.New("the event concerns another attempt of the payment")
)

// DeclinedError is a charge the processor declined; Message is its words for the customer.
type DeclinedError struct {
	Message string
	Err     error // the processor's answer, for the logs
}

func (e *DeclinedError) Error() string { return "declined: " + e.Message }
func (e *DeclinedError) Unwrap() error { return e.Err }

// RefusedError is payment details the processor refused: an unknown payment method or card
// token (Token says which was sent), or an amount it does not accept (Amount).
type RefusedError struct {
	Message string
	Token   bool
	Amount  bool
	Err     error
}

func (e *RefusedError) Error() string { return "refused: " + e.Message }
func (e *RefusedError) Unwrap() error { return e.Err }

// CheckPayable says whether userID may pay o at now.
func CheckPayable(o Order, userID string, now time.Time) error {
	switch {
	case o.UserID != userID:
		return ErrNotOwner
	case o.Status == events.OrderStatusCancelled:
		return ErrOrderCancelled
	case o.Status == events.OrderStatusComplete:
		return ErrOrderPaid
	case !now.Before(o.ExpiresAt):
		return ErrOrderExpired
	}
	return nil
}

// Method is how the customer pays: a PaymentMethod id, a legacy card token, or neither (the
// browser confirms a PaymentIntent with Stripe.js).
type Method struct {
	PaymentMethod string
	Token         string
}

// None reports whether the browser is to confirm the payment.
func (m Method) None() bool { return m.PaymentMethod == "" && m.Token == "" }

var processorID = regexp.MustCompile(`^[A-Za-z0-9_]{1,255}$`)

// MaxOrderIDLength bounds an order id a client sends.
const MaxOrderIDLength = 1024

// ValidProcessorID reports whether s looks like an id of the processor's (a PaymentMethod
// such as pm_card_visa, or a card token such as tok_visa).
func ValidProcessorID(s string) bool { return processorID.MatchString(s) }

// ChargeKey is the idempotency key of attempt n to pay an order: every request for the same
// attempt sends the same key, so the processor charges at most once per attempt.
func ChargeKey(orderID string, attempt int) string {
	return "pay-" + orderID + "-" + strconv.Itoa(attempt)
}

// RefundKey is the idempotency key of an order's refund.
func RefundKey(orderID string) string { return "refund-" + orderID }

// Event is something that happens to a payment.
type Event int

// The events of a payment.
const (
	// Retry: the customer pays again after an attempt failed; a new attempt, with a new
	// idempotency key, starts.
	Retry Event = iota + 1
	// AwaitClient: the attempt's PaymentIntent waits for the browser to confirm it.
	AwaitClient
	// Succeed: the processor charged the attempt's PaymentIntent.
	Succeed
	// Fail: the processor declined or refused the attempt.
	Fail
	// Refund: the charge was refunded, because the order was cancelled.
	Refund
)

// Events lists every event.
var Events = []Event{Retry, AwaitClient, Succeed, Fail, Refund}

// Statuses lists every status.
var Statuses = []Status{StatusProcessing, StatusRequiresPaymentMethod, StatusSucceeded, StatusFailed, StatusRefunded}

func (e Event) String() string {
	switch e {
	case Retry:
		return "retry"
	case AwaitClient:
		return "await client"
	case Succeed:
		return "succeed"
	case Fail:
		return "fail"
	case Refund:
		return "refund"
	}
	return fmt.Sprintf("Event(%d)", int(e))
}

// Next is the status a payment in status s moves to on event e; ErrNotApplicable when e
// does not apply in s. Money that moved is always recorded: a success applies from every
// status that is not already succeeded or refunded.
//
//	                          retry        await client               succeed     fail     refund
//	processing                -            requires_payment_method    succeeded   failed   -
//	requires_payment_method   -            -                          succeeded   -        -
//	succeeded                 -            -                          -           -        refunded
//	failed                    processing   -                          succeeded   -        -
//	refunded                  -            -                          -           -        -
func Next(s Status, e Event) (Status, error) {
	switch {
	case s == StatusProcessing && e == AwaitClient:
		return StatusRequiresPaymentMethod, nil
	case s == StatusProcessing && e == Fail:
		return StatusFailed, nil
	case e == Succeed && (s == StatusProcessing || s == StatusRequiresPaymentMethod || s == StatusFailed):
		return StatusSucceeded, nil
	case s == StatusFailed && e == Retry:
		return StatusProcessing, nil
	case s == StatusSucceeded && e == Refund:
		return StatusRefunded, nil
	}
	return s, fmt.Errorf("%w: %s of a %s payment", ErrNotApplicable, e, s)
}

// apply moves p on e, an event about attempt n.
func (p Payment) apply(e Event, n int) (Payment, error) {
	if n != p.Attempt {
		return p, fmt.Errorf("%w: %s of attempt %d, the payment is at %d", ErrOtherAttempt, e, n, p.Attempt)
	}
	next, err := Next(p.Status, e)
	if err != nil {
		return p, err
	}
	p.Status = next
	return p, nil
}

// Retry starts the attempt after n, which failed.
func (p Payment) Retry(n int) (Payment, error) {
	next, err := p.apply(Retry, n)
	if err != nil {
		return p, err
	}
	next.Attempt, next.StripeID, next.Failure = n+1, "", ""
	return next, nil
}

// AwaitClient records that attempt n created PaymentIntent intentID for the browser.
func (p Payment) AwaitClient(n int, intentID string) (Payment, error) {
	next, err := p.apply(AwaitClient, n)
	if err != nil {
		return p, err
	}
	next.StripeID = intentID
	return next, nil
}

// Pending records that attempt n, still processing, is PaymentIntent intentID at the
// processor (a charge the processor settles later, by webhook or reconciliation).
func (p Payment) Pending(n int, intentID string) (Payment, error) {
	switch {
	case n != p.Attempt:
		return p, fmt.Errorf("%w: intent of attempt %d, the payment is at %d", ErrOtherAttempt, n, p.Attempt)
	case p.Status != StatusProcessing:
		return p, fmt.Errorf("%w: a pending intent for a %s payment", ErrNotApplicable, p.Status)
	}
	p.StripeID = intentID
	return p, nil
}

// Succeed records that attempt n charged PaymentIntent intentID.
func (p Payment) Succeed(n int, intentID string) (Payment, error) {
	next, err := p.apply(Succeed, n)
	if err != nil {
		return p, err
	}
	next.StripeID, next.Failure = intentID, ""
	return next, nil
}

// Fail records that attempt n, on PaymentIntent intentID ("" when none was made), was
// declined or refused for reason.
func (p Payment) Fail(n int, intentID, reason string) (Payment, error) {
	next, err := p.apply(Fail, n)
	if err != nil {
		return p, err
	}
	next.StripeID, next.Failure = intentID, reason
	return next, nil
}

// DeclineInBrowser records that the browser's confirmation of attempt n's PaymentIntent
// was declined for reason: the intent stays open for another card (requires_payment_method,
// as at Stripe), and the decline is announced (DeclinedEvent) so that the order stops
// waiting for the payment.
func (p Payment) DeclineInBrowser(n int, reason string) (Payment, error) {
	if n != p.Attempt {
		return p, fmt.Errorf("%w: decline of attempt %d, the payment is at %d", ErrOtherAttempt, n, p.Attempt)
	}
	if p.Status != StatusRequiresPaymentMethod {
		return p, fmt.Errorf("%w: browser decline of a %s payment", ErrNotApplicable, p.Status)
	}
	p.Failure = reason
	return p, nil
}

// DeclinedEvent is the payment.failed of a decline in the browser (DeclineInBrowser), with
// an id of its own per decline (key: the processor's event id).
func (p Payment) DeclinedEvent(key string) (id string, e events.Event) {
	return "payment-failed-" + p.ID + "-" + strconv.Itoa(p.Attempt) + "-" + key,
		events.PaymentFailed{ID: p.ID, OrderID: p.OrderID, Attempt: p.Attempt, Reason: p.Failure}
}

// Refund records that the charge was refunded.
func (p Payment) Refund() (Payment, error) { return p.apply(Refund, p.Attempt) }

// Refused reports whether err is the domain refusing an event: it does not apply to the
// payment's status, or concerns another attempt. The payment is as it was.
func Refused(err error) bool {
	return errors.Is(err, ErrNotApplicable) || errors.Is(err, ErrOtherAttempt)
}

// Event is the event that announces p's status, with its id, the same whoever writes it so
// that JetStream drops a duplicate: payment.started when an attempt starts (processing),
// payment.failed when it failed, payment.created once succeeded, payment.refunded once
// refunded; nil while the browser confirms.
func (p Payment) Event() (id string, e events.Event) {
	attempt := strconv.Itoa(p.Attempt)
	switch p.Status {
	case StatusProcessing:
		return "payment-started-" + p.ID + "-" + attempt, events.PaymentStarted{ID: p.ID, OrderID: p.OrderID, Attempt: p.Attempt}
	case StatusFailed:
		return "payment-failed-" + p.ID + "-" + attempt, events.PaymentFailed{ID: p.ID, OrderID: p.OrderID, Attempt: p.Attempt, Reason: p.Failure}
	case StatusSucceeded:
		return "payment-created-" + p.ID, events.PaymentCreated{ID: p.ID, OrderID: p.OrderID, StripeID: p.StripeID}
	case StatusRefunded:
		return "payment-refunded-" + p.ID, events.PaymentRefunded{ID: p.ID, OrderID: p.OrderID, StripeID: p.StripeID, Reason: RefundReason}
	}
	return "", nil
}

// Settled reports whether p charged PaymentIntent intentID: succeeded with it, or refunded
// after.
func (p Payment) Settled(intentID string) bool {
	return (p.Status == StatusSucceeded || p.Status == StatusRefunded) && p.StripeID == intentID
}

// RecentID reports whether id is a hex ObjectID (the platform's document ids, which start
// with their creation time in seconds) made within window before now (or up to a minute
// after, for clock skew).
func RecentID(id string, now time.Time, window time.Duration) bool {
	if len(id) != 24 {
		return false
	}
	b, err := hex.DecodeString(id)
	if err != nil {
		return false
	}
	created := time.Unix(int64(binary.BigEndian.Uint32(b[:4])), 0)
	return created.After(now.Add(-window)) && created.Before(now.Add(time.Minute))
}

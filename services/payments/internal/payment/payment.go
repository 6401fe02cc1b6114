// Package payment holds the payments service's rules: when an order may be paid, the states
// of a payment and the moves between them, and the idempotency keys sent to the processor.
// It imports no driver and no HTTP package.
package payment

import (
	"encoding/binary"
	"encoding/hex"
	"regexp"
	"strconv"
	"time"

	"ticketing/common/errs"
)

// OrderStatus is the status of an order, as the orders service publishes it.
type OrderStatus string

// Order statuses.
const (
	OrderCreated         OrderStatus = "created"
	OrderAwaitingPayment OrderStatus = "awaiting:payment"
	OrderCancelled       OrderStatus = "cancelled"
	OrderComplete        OrderStatus = "complete"
)

// Order is the payments service's replica of an order.
type Order struct {
	ID         string
	UserID     string
	PriceCents int64
	Status     OrderStatus
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

// Client-facing conflicts.
var (
	ErrOrderCancelled = errs.New(errs.Conflict, "Order has been cancelled")
	ErrOrderPaid      = errs.New(errs.Conflict, "Order already paid")
	ErrOrderExpired   = errs.New(errs.Conflict, "Order has expired")
	ErrInProgress     = errs.New(errs.Conflict, "A payment for this order is in progress")
	ErrAwaitingClient = errs.New(errs.Conflict, "A payment for this order awaits confirmation with Stripe.js; confirm it with its client secret")
	ErrRefunded       = errs.New(errs.Conflict, "The payment for this order was refunded")
	ErrOrderNotFound  = errs.New(errs.NotFound, "Order not found")
	ErrNotOwner       = errs.New(errs.Forbidden, "Not allowed to pay for this order")
)

// CheckPayable says whether userID may pay o at now.
func CheckPayable(o Order, userID string, now time.Time) error {
	switch {
	case o.UserID != userID:
		return ErrNotOwner
	case o.Status == OrderCancelled:
		return ErrOrderCancelled
	case o.Status == OrderComplete:
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

var stripeID = regexp.MustCompile(`^[A-Za-z0-9_]{1,255}$`)

// ParseRequest checks a payment request: orderId required; at most one of paymentMethodId and
// token, each a Stripe-looking id when given.
func ParseRequest(orderID string, paymentMethodID, token *string) (string, Method, error) {
	var v errs.Validation
	v.Check(orderID != "", "orderId", "orderId is required")
	v.Check(len(orderID) <= 1024, "orderId", "orderId is too long")
	if paymentMethodID != nil && token != nil {
		v.Add("token", "Provide either paymentMethodId or token, not both")
	}
	var m Method
	if paymentMethodID != nil {
		v.Check(stripeID.MatchString(*paymentMethodID), "paymentMethodId", "paymentMethodId must be a Stripe PaymentMethod id such as pm_card_visa")
		m.PaymentMethod = *paymentMethodID
	}
	if token != nil {
		v.Check(stripeID.MatchString(*token), "token", "token must be a Stripe card token such as tok_visa")
		m.Token = *token
	}
	if err := v.Err(); err != nil {
		return "", Method{}, err
	}
	return orderID, m, nil
}

// ChargeKey is the idempotency key of attempt n to pay an order: every request for the same
// attempt sends the same key, so the processor charges at most once per attempt.
func ChargeKey(orderID string, attempt int) string {
	return "pay-" + orderID + "-" + strconv.Itoa(attempt)
}

// RefundKey is the idempotency key of an order's refund.
func RefundKey(orderID string) string { return "refund-" + orderID }

// SucceedFrom are the statuses from which a payment is recorded as succeeded when the
// processor says its PaymentIntent was charged: money moved, so any state that is not
// already succeeded or refunded records it.
var SucceedFrom = []Status{StatusProcessing, StatusRequiresPaymentMethod, StatusFailed}

// CanSucceed reports whether s is one of SucceedFrom.
func CanSucceed(s Status) bool {
	for _, f := range SucceedFrom {
		if s == f {
			return true
		}
	}
	return false
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

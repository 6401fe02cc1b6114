package provider

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	razorpay "github.com/razorpay/razorpay-go"
)

// Razorpay is the provider over Razorpay's Orders, Payments and Refunds APIs, through the
// official razorpay-go client. A payment is made in Razorpay Checkout in the browser: an
// "intent" here is a Razorpay order (order_...), created for an attempt with the attempt's
// idempotency key as its receipt; the payment (pay_...) that Checkout makes for it is
// captured automatically, and refunded through the Refunds API.
//
// Razorpay has no idempotency keys: an attempt's order is looked up by its receipt before one
// is created, under a lock per key, so that concurrent requests of one process make one
// order. The application serialises the requests of several processes (see app.Service.Pay).
type Razorpay struct {
	client *razorpay.Client
	keyID  string

	mu    sync.Mutex
	locks map[string]*keyLock
}

// RazorpayOptions configure the Razorpay provider.
type RazorpayOptions struct {
	KeyID     string // RAZORPAY_KEY_ID, rzp_test_... or rzp_live_...
	KeySecret string // RAZORPAY_KEY_SECRET
	APIBase   string // RAZORPAY_API_BASE: Razorpay's API by default; a fake's URL in tests
}

// newClientMu guards razorpay.NewClient, which sets a package variable.
var newClientMu sync.Mutex

// NewRazorpay is the Razorpay provider with opts.
func NewRazorpay(opts RazorpayOptions) *Razorpay {
	newClientMu.Lock()
	c := razorpay.NewClient(opts.KeyID, opts.KeySecret)
	newClientMu.Unlock()
	if opts.APIBase != "" {
		c.Order.Request.BaseURL = strings.TrimRight(opts.APIBase, "/") // one Request for every resource
	}
	return &Razorpay{client: c, keyID: opts.KeyID, locks: map[string]*keyLock{}}
}

// Name is "razorpay".
func (*Razorpay) Name() string { return "razorpay" }

// KeyID is the public key id that Checkout is opened with.
func (r *Razorpay) KeyID() string { return r.keyID }

func (r *Razorpay) lock(key string) func() {
	r.mu.Lock()
	l, ok := r.locks[key]
	if !ok {
		l = &keyLock{}
		r.locks[key] = l
	}
	l.users++
	r.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		r.mu.Lock()
		if l.users--; l.users == 0 {
			delete(r.locks, key)
		}
		r.mu.Unlock()
	}
}

// keyLock serialises the calls of one idempotency key; users counts those holding or
// waiting for it.
type keyLock struct {
	mu    sync.Mutex
	users int
}

// Charge is refused: with Razorpay the customer pays in Checkout.
func (*Razorpay) Charge(context.Context, ChargeRequest) (Intent, error) {
	return Intent{}, &InvalidError{Param: "token", Message: "With Razorpay, pay in Razorpay Checkout: send {orderId} alone"}
}

// CreateIntent creates the Razorpay order of an attempt (amount in the currency's smallest
// unit, receipt = the attempt's idempotency key, auto-capture), or returns the one the key
// already made.
func (r *Razorpay) CreateIntent(ctx context.Context, req IntentRequest) (Intent, error) {
	defer r.lock(req.IdempotencyKey)()
	if err := ctx.Err(); err != nil {
		return Intent{}, err
	}
	found, err := r.client.Order.All(map[string]interface{}{"receipt": req.IdempotencyKey}, nil)
	if err != nil {
		return Intent{}, fmt.Errorf("razorpay: list orders: %w", err)
	}
	if items, _ := found["items"].([]interface{}); len(items) > 0 {
		if o, ok := items[0].(map[string]interface{}); ok {
			return r.intent(o, req.AmountCents)
		}
	}
	o, err := r.client.Order.Create(map[string]interface{}{
		"amount":          req.AmountCents,
		"currency":        strings.ToUpper(req.Currency),
		"receipt":         req.IdempotencyKey,
		"payment_capture": 1,
		"notes":           map[string]interface{}{MetaOrderID: req.OrderID, MetaAttempt: strconv.Itoa(req.Attempt)},
	}, nil)
	if err != nil {
		return Intent{}, fmt.Errorf("razorpay: create order: %w", err)
	}
	return r.intent(o, req.AmountCents)
}

func (r *Razorpay) intent(o map[string]interface{}, amount int64) (Intent, error) {
	id, _ := o["id"].(string)
	if id == "" {
		return Intent{}, errors.New("razorpay: an order without an id")
	}
	if a, ok := o["amount"].(float64); ok && int64(a) != amount {
		return Intent{}, ErrIdempotency // the receipt's order is for another amount
	}
	status := StatusRequiresPaymentMethod
	if s, _ := o["status"].(string); s == "paid" {
		status = StatusSucceeded
	}
	return Intent{ID: id, Status: status, AmountCents: amount}, nil
}

// Lookup implements Provider for a Razorpay order (order_...): its payments. A captured one
// makes the intent succeeded, with that payment's id; else the last failed one, if any, is
// its Failure (the order stays open for another try in Checkout, requires_payment_method).
func (r *Razorpay) Lookup(ctx context.Context, razorpayOrderID string) (Intent, error) {
	if err := ctx.Err(); err != nil {
		return Intent{}, err
	}
	list, err := r.client.Order.Payments(razorpayOrderID, nil, nil)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return Intent{}, fmt.Errorf("%w: %s", ErrUnknownIntent, razorpayOrderID)
		}
		return Intent{}, fmt.Errorf("razorpay: payments of order %s: %w", razorpayOrderID, err)
	}
	in := Intent{ID: razorpayOrderID, Status: StatusRequiresPaymentMethod}
	items, _ := list["items"].([]interface{})
	for _, it := range items {
		p, _ := it.(map[string]interface{})
		id, _ := p["id"].(string)
		switch status, _ := p["status"].(string); status {
		case "captured":
			amount, _ := p["amount"].(float64)
			return Intent{ID: id, Status: StatusSucceeded, AmountCents: int64(amount)}, nil
		case "failed":
			if in.Failure, _ = p["error_description"].(string); in.Failure == "" {
				in.Failure = DeclinedMessage
			}
		}
	}
	return in, nil
}

// Receipt reads the attempt a Razorpay order was made for: the order id and attempt of its
// receipt (see CreateIntent). ErrNotOurs for an order this service did not make.
func (r *Razorpay) Receipt(ctx context.Context, razorpayOrderID string) (orderID string, attempt int, err error) {
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	o, err := r.client.Order.Fetch(razorpayOrderID, nil, nil)
	if err != nil {
		return "", 0, fmt.Errorf("razorpay: fetch order %s: %w", razorpayOrderID, err)
	}
	receipt, _ := o["receipt"].(string)
	orderID, attempt, ok := ParseReceipt(receipt)
	if !ok {
		return "", 0, ErrNotOurs
	}
	return orderID, attempt, nil
}

// ErrNotOurs is a provider object this service did not create.
var ErrNotOurs = errors.New("not a payment of this service")

// ParseReceipt reads "pay-<orderId>-<attempt>", the idempotency key of an attempt.
func ParseReceipt(receipt string) (orderID string, attempt int, ok bool) {
	rest, found := strings.CutPrefix(receipt, "pay-")
	i := strings.LastIndexByte(rest, '-')
	if !found || i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(rest[i+1:])
	if err != nil || n < 1 {
		return "", 0, false
	}
	return rest[:i], n, true
}

// Refund refunds a Razorpay payment (pay_...) in full, once: a payment that already has a
// refund returns it.
func (r *Razorpay) Refund(ctx context.Context, req RefundRequest) (Refund, error) {
	defer r.lock(req.IdempotencyKey)()
	if err := ctx.Err(); err != nil {
		return Refund{}, err
	}
	existing, err := r.client.Payment.FetchMultipleRefund(req.PaymentIntentID, nil, nil)
	if err != nil {
		return Refund{}, fmt.Errorf("razorpay: refunds of %s: %w", req.PaymentIntentID, err)
	}
	if items, _ := existing["items"].([]interface{}); len(items) > 0 {
		if rf, ok := items[0].(map[string]interface{}); ok {
			return refundOf(rf), nil
		}
	}
	p, err := r.client.Payment.Fetch(req.PaymentIntentID, nil, nil)
	if err != nil {
		return Refund{}, fmt.Errorf("razorpay: fetch payment %s: %w", req.PaymentIntentID, err)
	}
	amount, _ := p["amount"].(float64)
	rf, err := r.client.Payment.Refund(req.PaymentIntentID, int(amount), map[string]interface{}{
		"receipt": req.IdempotencyKey,
		"notes":   map[string]interface{}{MetaOrderID: req.OrderID, "reason": req.Reason},
	}, nil)
	if err != nil {
		return Refund{}, fmt.Errorf("razorpay: refund %s: %w", req.PaymentIntentID, err)
	}
	return refundOf(rf), nil
}

func refundOf(rf map[string]interface{}) Refund {
	id, _ := rf["id"].(string)
	status, _ := rf["status"].(string)
	return Refund{ID: id, Status: status}
}

// RazorpayCheckoutSignature is the signature Checkout hands the browser for a payment:
// hex HMAC-SHA256 of "<order id>|<payment id>" with the key secret.
func RazorpayCheckoutSignature(orderID, paymentID, keySecret string) string {
	return hmacHex([]byte(orderID+"|"+paymentID), keySecret)
}

// RazorpayWebhookSignature is a webhook's X-Razorpay-Signature: hex HMAC-SHA256 of the raw
// body with the webhook secret.
func RazorpayWebhookSignature(body []byte, webhookSecret string) string {
	return hmacHex(body, webhookSecret)
}

// ValidSignature compares a received hex signature with the expected one in constant time.
func ValidSignature(got, want string) bool {
	g, err := hex.DecodeString(got)
	if err != nil || len(got) != len(want) {
		return false
	}
	w, _ := hex.DecodeString(want)
	return hmac.Equal(g, w)
}

func hmacHex(data []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}

package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"ticketing/common/errs"
	"ticketing/common/web"
	"ticketing/services/payments/internal/app"
	"ticketing/services/payments/internal/payment"
	"ticketing/services/payments/internal/provider"
)

// Razorpay webhook events the service acts on; others are acknowledged and ignored.
const (
	RazorpayPaymentCaptured = "payment.captured"
	RazorpayOrderPaid       = "order.paid"
	RazorpayPaymentFailed   = "payment.failed"
)

// RazorpayWebhookTolerance is how old (or how far ahead) a webhook's created_at may be: an
// older one is a replay, refused whatever its signature.
const RazorpayWebhookTolerance = 5 * time.Minute

// ErrStale is a correctly signed webhook created outside the tolerance: a replay.
var ErrStale = errors.New("webhook is stale")

var (
	razorpayID  = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
	razorpaySig = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// RazorpayEvent is what the service reads from a verified Razorpay webhook.
type RazorpayEvent struct {
	ID        string // X-Razorpay-Event-Id
	Type      string
	PaymentID string // payload.payment.entity.id
	OrderID   string // payload.payment.entity.order_id: the Razorpay order
	Message   string // error_description of a failed payment
}

// Ours reports whether the event is one the service acts on.
func (e RazorpayEvent) Ours() bool {
	switch e.Type {
	case RazorpayPaymentCaptured, RazorpayOrderPaid, RazorpayPaymentFailed:
		return e.PaymentID != "" && e.OrderID != ""
	}
	return false
}

// ParseRazorpayWebhook verifies body against X-Razorpay-Signature (hex HMAC-SHA256 of the
// raw body with secret, compared in constant time) and reads the event. A bad signature is
// ErrBadSignature; a signed event whose created_at is not within RazorpayWebhookTolerance of
// now is ErrStale; an event id that is missing or malformed, or a body that is not a
// webhook, is another error.
func ParseRazorpayWebhook(body []byte, signature, eventID, secret string, now time.Time) (RazorpayEvent, error) {
	if secret == "" || !razorpaySig.MatchString(signature) ||
		!provider.ValidSignature(signature, provider.RazorpayWebhookSignature(body, secret)) {
		return RazorpayEvent{}, fmt.Errorf("%w: X-Razorpay-Signature does not match the body", ErrBadSignature)
	}
	var evt struct {
		Event     string `json:"event"`
		CreatedAt *int64 `json:"created_at"`
		Payload   struct {
			Payment *struct {
				Entity struct {
					ID               string  `json:"id"`
					OrderID          string  `json:"order_id"`
					ErrorDescription *string `json:"error_description"`
				} `json:"entity"`
			} `json:"payment"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(body, &evt); err != nil {
		return RazorpayEvent{}, fmt.Errorf("webhook body: %w", err)
	}
	if evt.CreatedAt == nil || evt.Event == "" {
		return RazorpayEvent{}, errors.New("webhook without event or created_at")
	}
	if at := time.Unix(*evt.CreatedAt, 0); at.Before(now.Add(-RazorpayWebhookTolerance)) || at.After(now.Add(RazorpayWebhookTolerance)) {
		return RazorpayEvent{}, fmt.Errorf("%w: created %s, now %s", ErrStale, at.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !razorpayID.MatchString(eventID) {
		return RazorpayEvent{}, errors.New("webhook without a valid X-Razorpay-Event-Id")
	}
	out := RazorpayEvent{ID: eventID, Type: evt.Event}
	if p := evt.Payload.Payment; p != nil {
		if (p.Entity.ID != "" && !razorpayID.MatchString(p.Entity.ID)) || (p.Entity.OrderID != "" && !razorpayID.MatchString(p.Entity.OrderID)) {
			return RazorpayEvent{}, errors.New("webhook with a malformed payment or order id")
		}
		out.PaymentID, out.OrderID = p.Entity.ID, p.Entity.OrderID
		if p.Entity.ErrorDescription != nil {
			out.Message = *p.Entity.ErrorDescription
		}
	}
	return out, nil
}

// VerifyRequest is the body of POST /api/payments/razorpay/verify: what Razorpay Checkout
// hands the browser after a payment.
type VerifyRequest struct {
	PaymentID string `json:"razorpay_payment_id"`
	OrderID   string `json:"razorpay_order_id"`
	Signature string `json:"razorpay_signature"`
}

func (v VerifyRequest) check() error {
	var val errs.Validation
	val.Check(razorpayID.MatchString(v.PaymentID), "razorpay_payment_id", "razorpay_payment_id must be a Razorpay payment id such as pay_...")
	val.Check(razorpayID.MatchString(v.OrderID), "razorpay_order_id", "razorpay_order_id must be a Razorpay order id such as order_...")
	val.Check(razorpaySig.MatchString(v.Signature), "razorpay_signature", "razorpay_signature must be 64 hexadecimal digits")
	return val.Err()
}

// DecodeVerify reads and checks a body of POST /api/payments/razorpay/verify.
func DecodeVerify(body io.Reader) (VerifyRequest, error) {
	var req VerifyRequest
	if err := web.DecodeReader(body, &req); err != nil {
		return VerifyRequest{}, err
	}
	return req, req.check()
}

// ErrBadCheckoutSignature is a razorpay_signature that does not sign the order and payment.
var ErrBadCheckoutSignature = errors.New("razorpay_signature does not match")

// VerifyCheckout checks req's signature: hex HMAC-SHA256 of "order_id|payment_id" with the
// key secret, compared in constant time.
func VerifyCheckout(req VerifyRequest, keySecret string) error {
	if keySecret == "" || !provider.ValidSignature(req.Signature, provider.RazorpayCheckoutSignature(req.OrderID, req.PaymentID, keySecret)) {
		return ErrBadCheckoutSignature
	}
	return nil
}

// razorpayVerify answers 201 with the payment once Checkout's signature verifies and the
// payment is recorded (also for the same verification again), 400 for a body or signature
// that is not valid.
func (h *Handler) razorpayVerify(w http.ResponseWriter, r *http.Request) {
	var req VerifyRequest
	if err := web.Decode(w, r, &req); err != nil {
		web.Error(w, r, err)
		return
	}
	if err := req.check(); err != nil {
		web.Error(w, r, err)
		return
	}
	if err := VerifyCheckout(req, h.Razorpay.KeySecret); err != nil {
		h.Log.WarnContext(r.Context(), "razorpay verification refused", "err", err)
		web.Error(w, r, errs.Field("razorpay_signature", "Invalid razorpay_signature"))
		return
	}
	res, err := h.App.RazorpayPaid(r.Context(), web.MustUser(r).ID, req.OrderID, req.PaymentID)
	if err != nil {
		web.Error(w, r, toHTTP(err))
		return
	}
	web.Respond(w, http.StatusCreated, h.response(res))
}

// razorpayWebhook answers 200 once the event's effect is stored (or it was already handled,
// or is of no concern), 400 when the signature does not verify, the event is stale or not
// readable, 413 over 1 MiB, and 500 when storing failed, so that Razorpay retries.
func (h *Handler) razorpayWebhook(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	evt, err := ParseRazorpayWebhook(body, r.Header.Get("X-Razorpay-Signature"), r.Header.Get("X-Razorpay-Event-Id"),
		h.Razorpay.WebhookSecret, time.Now())
	switch {
	case errors.Is(err, ErrBadSignature), errors.Is(err, ErrStale):
		h.Log.WarnContext(r.Context(), "razorpay webhook refused", "err", err)
		web.Error(w, r, errs.Wrap(errs.Invalid, err, "Invalid X-Razorpay-Signature"))
		return
	case err != nil:
		h.Log.WarnContext(r.Context(), "razorpay webhook refused", "err", err)
		web.Error(w, r, errs.Wrap(errs.Invalid, err, "Invalid webhook event"))
		return
	}
	if evt.Ours() {
		err = h.App.HandleRazorpayEvent(r.Context(), app.RazorpayEvent{ID: evt.ID, Type: evt.Type,
			Succeeded: evt.Type != RazorpayPaymentFailed, RazorpayOrderID: evt.OrderID, PaymentID: evt.PaymentID, Message: evt.Message})
		if err != nil {
			web.Error(w, r, toHTTP(err))
			return
		}
	}
	web.Respond(w, http.StatusOK, map[string]bool{"received": true})
}

// RazorpayConfig is what the Razorpay routes need.
type RazorpayConfig struct {
	KeyID         string
	KeySecret     string
	WebhookSecret string
}

// response is p as the API shows it; with Razorpay, what Checkout needs while the payment
// waits for the browser.
func (h *Handler) response(res app.Result) paymentResponse {
	p := res.Payment
	out := paymentResponse{ID: p.ID, OrderID: p.OrderID, StripeID: p.StripeID, Status: string(p.Status), ClientSecret: res.ClientSecret}
	if h.Client.Provider == "razorpay" && p.Status == payment.StatusRequiresPaymentMethod {
		out.RazorpayOrderID, out.KeyID, out.Amount, out.Currency = p.StripeID, h.Razorpay.KeyID, p.AmountCents, strings.ToUpper(p.Currency)
	}
	return out
}

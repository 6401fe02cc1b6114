// Package api serves the payments REST routes of docs/API.md: POST /api/payments and Stripe's
// webhook, POST /api/payments/webhook, Razorpay's Checkout verification and webhook (POST
// /api/payments/razorpay/verify and /webhook), and what a browser needs to choose its
// payment flow, GET /api/payments/config. toHTTP maps the domain's errors to the API's in one
// place.
package api

import (
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"ticketing/common/errs"
	"ticketing/common/idempotency"
	"ticketing/common/openapi"
	"ticketing/common/web"
	"ticketing/services/payments/internal/app"
	"ticketing/services/payments/internal/payment"
)

// Handler holds what the routes need.
type Handler struct {
	App           *app.Service
	WebhookSecret string
	Log           *slog.Logger
	// Client is what GET /api/payments/config tells a browser: the provider and its public
	// key.
	Client ClientConfig
	// Razorpay is the Razorpay keys, with PAYMENT_PROVIDER=razorpay.
	Razorpay RazorpayConfig
	// Idempotency makes POST /api/payments safe to retry with an Idempotency-Key (nil: the
	// header is ignored).
	Idempotency *idempotency.Store
}

// ClientConfig is the body of GET /api/payments/config: which payment flow a client offers.
type ClientConfig struct {
	Provider       string `json:"provider"`
	PublishableKey string `json:"publishableKey,omitempty"`
	KeyID          string `json:"keyId,omitempty"`
	Currency       string `json:"currency,omitempty"`
}

// Routes mounts the payments routes, and the OpenAPI document that describes them, on r at
// their public paths.
func Routes(r chi.Router, h *Handler) {
	r.Method(http.MethodGet, "/api/payments"+openapi.Path, openapi.Handler(OpenAPI))
	r.Get("/api/payments/config", h.config)
	r.With(web.RequireAuth, h.Idempotency.Middleware).Post("/api/payments", h.create)
	r.Post(stripeWebhook, h.webhook)
	r.With(web.RequireAuth).Post("/api/payments/razorpay/verify", h.razorpayVerify)
	r.Post(razorpayWebhook, h.razorpayWebhook)
}

const (
	stripeWebhook   = "/api/payments/webhook"
	razorpayWebhook = "/api/payments/razorpay/webhook"
)

// Webhooks are the routes the payment providers call: signed, so not rate-limited per client
// address (every event of a provider comes from its few addresses).
var Webhooks = []string{stripeWebhook, razorpayWebhook}

func (h *Handler) config(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=60")
	web.Respond(w, http.StatusOK, h.Client)
}

// createRequest is the body of POST /api/payments.
type createRequest struct {
	OrderID         string  `json:"orderId"`
	PaymentMethodID *string `json:"paymentMethodId"`
	Token           *string `json:"token"`
}

// parse checks the request: orderId required; at most one of paymentMethodId and token, each
// a Stripe-looking id when given. The error names each field at fault.
func (c createRequest) parse() (string, payment.Method, error) {
	var v errs.Validation
	v.Check(c.OrderID != "", "orderId", "orderId is required")
	v.Check(len(c.OrderID) <= payment.MaxOrderIDLength, "orderId", "orderId is too long")
	if c.PaymentMethodID != nil && c.Token != nil {
		v.Add("token", "Provide either paymentMethodId or token, not both")
	}
	var m payment.Method
	if c.PaymentMethodID != nil {
		v.Check(payment.ValidProcessorID(*c.PaymentMethodID), "paymentMethodId", "paymentMethodId must be a Stripe PaymentMethod id such as pm_card_visa")
		m.PaymentMethod = *c.PaymentMethodID
	}
	if c.Token != nil {
		v.Check(payment.ValidProcessorID(*c.Token), "token", "token must be a Stripe card token such as tok_visa")
		m.Token = *c.Token
	}
	if err := v.Err(); err != nil {
		return "", payment.Method{}, err
	}
	return c.OrderID, m, nil
}

// DecodeCreate reads and checks a body of POST /api/payments (what the handler does after
// the Content-Type check and the size limit).
func DecodeCreate(body io.Reader) (string, payment.Method, error) {
	var req createRequest
	if err := web.DecodeReader(body, &req); err != nil {
		return "", payment.Method{}, err
	}
	return req.parse()
}

// paymentResponse is a payment as the API shows it.
type paymentResponse struct {
	ID           string `json:"id"`
	OrderID      string `json:"orderId"`
	StripeID     string `json:"stripeId"`
	Status       string `json:"status"`
	ClientSecret string `json:"clientSecret,omitempty"`
	// What Razorpay Checkout needs, with Razorpay while the payment waits for the browser.
	RazorpayOrderID string `json:"razorpayOrderId,omitempty"`
	KeyID           string `json:"keyId,omitempty"`
	Amount          int64  `json:"amount,omitempty"`
	Currency        string `json:"currency,omitempty"`
}

// create answers 201 with the payment once the charge succeeded (also to the owner's retry
// of a payment that already succeeded), 201 with a client secret for {orderId} alone, and 202
// for a charge the processor still processes (not for cards).
func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := web.Decode(w, r, &req); err != nil {
		web.Error(w, r, err)
		return
	}
	orderID, m, err := req.parse()
	if err != nil {
		web.Error(w, r, err)
		return
	}
	res, err := h.App.Pay(r.Context(), web.MustUser(r).ID, orderID, m)
	if err != nil {
		web.Error(w, r, toHTTP(err))
		return
	}
	status := http.StatusCreated
	if res.Payment.Status == payment.StatusProcessing {
		status = http.StatusAccepted
	}
	web.Respond(w, status, h.response(res))
}

// toHTTP maps the domain's errors to the API's, in one place; anything else is a fault.
func toHTTP(err error) error {
	var declined *payment.DeclinedError
	var refused *payment.RefusedError
	conflict := func(message string) error { return errs.Wrap(errs.Conflict, err, message) }
	switch {
	case errors.As(err, &declined):
		return errs.Wrap(errs.PaymentRequired, err, declined.Message)
	case errors.As(err, &refused) && refused.Amount:
		return conflict(refused.Message)
	case errors.As(err, &refused):
		field := "paymentMethodId"
		if refused.Token {
			field = "token"
		}
		return errs.Field(field, refused.Message)
	case errors.Is(err, payment.ErrOrderNotFound):
		return errs.New(errs.NotFound, "Order not found")
	case errors.Is(err, payment.ErrNotFound):
		return errs.New(errs.NotFound, "Payment not found")
	case errors.Is(err, payment.ErrNotOwner):
		return errs.New(errs.Forbidden, "Not allowed to pay for this order")
	case errors.Is(err, payment.ErrOrderCancelled):
		return conflict("Order has been cancelled")
	case errors.Is(err, payment.ErrOrderPaid):
		return conflict("Order already paid")
	case errors.Is(err, payment.ErrOrderExpired):
		return conflict("Order has expired")
	case errors.Is(err, payment.ErrInProgress):
		return conflict("A payment for this order is in progress")
	case errors.Is(err, payment.ErrAwaitingClient):
		return conflict("A payment for this order awaits confirmation with Stripe.js; confirm it with its client secret")
	case errors.Is(err, payment.ErrRefunded):
		return conflict("The payment for this order was refunded")
	case errors.Is(err, payment.ErrRefundedLate):
		return conflict("Order was cancelled while the card was charged; the payment was refunded")
	case errors.Is(err, payment.ErrUnavailable):
		return errs.Wrap(errs.Unavailable, err, "The payment provider is unavailable; try again")
	default:
		return errs.Wrap(errs.Internal, err, "")
	}
}

// Package api serves the payments REST routes of docs/API.md: POST /api/payments and Stripe's
// webhook, POST /api/payments/webhook.
package api

import (
	"io"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"ticketing/common/openapi"
	"ticketing/common/web"
	"ticketing/services/payments/internal/checkout"
	"ticketing/services/payments/internal/payment"
	"ticketing/services/payments/internal/store"
)

// Handler holds what the routes need.
type Handler struct {
	Checkout      *checkout.Service
	Store         *store.Store
	WebhookSecret string
	Log           *slog.Logger
}

// Routes mounts the payments routes, and the OpenAPI document that describes them, on r at
// their public paths.
func Routes(r chi.Router, h *Handler) {
	r.Method(http.MethodGet, "/api/payments"+openapi.Path, openapi.Handler(OpenAPI))
	r.With(web.RequireAuth).Post("/api/payments", h.create)
	r.Post("/api/payments/webhook", h.webhook)
}

// createRequest is the body of POST /api/payments.
type createRequest struct {
	OrderID         string  `json:"orderId"`
	PaymentMethodID *string `json:"paymentMethodId"`
	Token           *string `json:"token"`
}

func (c createRequest) parse() (string, payment.Method, error) {
	return payment.ParseRequest(c.OrderID, c.PaymentMethodID, c.Token)
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
	res, err := h.Checkout.Pay(r.Context(), web.MustUser(r).ID, orderID, m)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	p := res.Payment
	status := http.StatusCreated
	if p.Status == payment.StatusProcessing {
		status = http.StatusAccepted
	}
	web.Respond(w, status, paymentResponse{ID: p.ID, OrderID: p.OrderID, StripeID: p.StripeID,
		Status: string(p.Status), ClientSecret: res.ClientSecret})
}

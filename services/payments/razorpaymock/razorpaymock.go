// Package razorpaymock is a stateful fake of Razorpay's API for tests (Razorpay publishes no
// mock): orders, payments made in "Checkout" with their signatures, automatic capture,
// refunds, and signed webhooks sent to the platform. The provider's requests run against it
// as against Razorpay: Basic auth with the key, JSON bodies, Razorpay's paths and error
// shape. Import it from tests only.
package razorpaymock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"ticketing/common/apiclient"
	"ticketing/services/payments/internal/provider"
)

// Server is the fake. Its counters say what the provider did.
type Server struct {
	t             testing.TB
	srv           *httptest.Server
	KeyID         string
	KeySecret     string
	WebhookSecret string
	// WebhookURL is where webhooks go (the platform's /api/payments/razorpay/webhook).
	WebhookURL string

	mu       sync.Mutex
	n        int
	orders   map[string]map[string]any // by id
	payments map[string]map[string]any
	refunds  map[string][]map[string]any // by payment id
	captures int
	creates  int
	failures int // order creations still to answer with a server error
}

// FailOrders makes the next n order creations answer 500, as an outage of Razorpay.
func (s *Server) FailOrders(n int) { s.mu.Lock(); defer s.mu.Unlock(); s.failures = n }

// Start starts the fake with the given credentials; it stops when the test ends.
func Start(t testing.TB, keyID, keySecret, webhookSecret string) *Server {
	s := &Server{t: t, KeyID: keyID, KeySecret: keySecret, WebhookSecret: webhookSecret,
		orders: map[string]map[string]any{}, payments: map[string]map[string]any{}, refunds: map[string][]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/orders", s.createOrder)
	mux.HandleFunc("GET /v1/orders", s.listOrders)
	mux.HandleFunc("GET /v1/orders/{id}", s.getOrder)
	mux.HandleFunc("GET /v1/orders/{id}/payments", s.orderPayments)
	mux.HandleFunc("GET /v1/payments/{id}", s.getPayment)
	mux.HandleFunc("POST /v1/payments/{id}/refund", s.refund)
	mux.HandleFunc("GET /v1/payments/{id}/refunds", s.listRefunds)
	// What runs in the browser: a stand-in for Razorpay's checkout.js, and the payment it
	// makes (no API key: Checkout is opened with the key id only).
	browser := http.NewServeMux()
	browser.HandleFunc("GET /v1/checkout.js", s.checkoutJS)
	browser.HandleFunc("POST /test/pay", s.testPay)
	browser.Handle("/", s.auth(mux))
	s.srv = httptest.NewServer(browser)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the API base to point the provider at (RAZORPAY_API_BASE).
func (s *Server) URL() string { return s.srv.URL }

// OrdersCreated, Captures and Refunds count the API's effects.
func (s *Server) OrdersCreated() int { s.mu.Lock(); defer s.mu.Unlock(); return s.creates }
func (s *Server) Captures() int      { s.mu.Lock(); defer s.mu.Unlock(); return s.captures }

// Refunds counts the refunds of every payment.
func (s *Server) Refunds() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.refunds {
		n += len(r)
	}
	return n
}

func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, secret, ok := r.BasicAuth()
		if !ok || key != s.KeyID || secret != s.KeySecret {
			fail(w, http.StatusUnauthorized, "Authentication failed")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// fail answers Razorpay's error shape.
func fail(w http.ResponseWriter, status int, description string) {
	code := "BAD_REQUEST_ERROR"
	if status >= 500 {
		code = "SERVER_ERROR"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "internal_error_code": code, "description": description}})
}

func respond(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) id(prefix string) string {
	s.n++
	return fmt.Sprintf("%s_fake%014d", prefix, s.n)
}

func (s *Server) createOrder(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Amount         int64          `json:"amount"`
		Currency       string         `json:"currency"`
		Receipt        string         `json:"receipt"`
		PaymentCapture any            `json:"payment_capture"`
		Notes          map[string]any `json:"notes"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "The request body is not JSON")
		return
	}
	switch {
	case req.Amount < 100:
		fail(w, http.StatusBadRequest, "The amount must be atleast INR 1.00")
		return
	case len(req.Currency) != 3 || strings.ToUpper(req.Currency) != req.Currency:
		fail(w, http.StatusBadRequest, "The currency is invalid")
		return
	case len(req.Receipt) > 40:
		fail(w, http.StatusBadRequest, "The receipt may not be greater than 40 characters")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures > 0 {
		s.failures--
		fail(w, http.StatusInternalServerError, "We are facing some trouble completing your request at the moment")
		return
	}
	s.creates++
	o := map[string]any{"id": s.id("order"), "entity": "order", "amount": req.Amount, "amount_paid": 0,
		"amount_due": req.Amount, "currency": req.Currency, "receipt": req.Receipt, "status": "created",
		"notes": req.Notes, "attempts": 0, "created_at": time.Now().Unix()}
	s.orders[o["id"].(string)] = o
	respond(w, o)
}

func (s *Server) listOrders(w http.ResponseWriter, r *http.Request) {
	receipt := r.URL.Query().Get("receipt")
	s.mu.Lock()
	defer s.mu.Unlock()
	items := []any{}
	for _, o := range s.orders {
		if receipt == "" || o["receipt"] == receipt {
			items = append(items, o)
		}
	}
	respond(w, map[string]any{"entity": "collection", "count": len(items), "items": items})
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request)   { s.get(w, r, s.orders) }
func (s *Server) getPayment(w http.ResponseWriter, r *http.Request) { s.get(w, r, s.payments) }

// get answers the object of coll named by the path's id.
func (s *Server) get(w http.ResponseWriter, r *http.Request, coll map[string]map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := coll[r.PathValue("id")]
	if !ok {
		fail(w, http.StatusBadRequest, "The id provided does not exist")
		return
	}
	respond(w, o)
}

// orderPayments answers the payments made for an order, as Razorpay's order payments do.
func (s *Server) orderPayments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("id")
	if _, ok := s.orders[id]; !ok {
		fail(w, http.StatusBadRequest, "The id provided does not exist")
		return
	}
	items := []any{}
	for _, p := range s.payments {
		if p["order_id"] == id {
			items = append(items, p)
		}
	}
	respond(w, map[string]any{"entity": "collection", "count": len(items), "items": items})
}

func (s *Server) refund(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Amount  int64  `json:"amount"`
		Receipt string `json:"receipt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "The request body is not JSON")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("id")
	p, ok := s.payments[id]
	switch {
	case !ok:
		fail(w, http.StatusBadRequest, "The id provided does not exist")
		return
	case p["status"] != "captured":
		fail(w, http.StatusBadRequest, "The payment has not been captured")
		return
	case len(s.refunds[id]) > 0:
		fail(w, http.StatusBadRequest, "The payment has been fully refunded already")
		return
	case req.Amount != p["amount"].(int64):
		fail(w, http.StatusBadRequest, "The refund amount must be the payment's")
		return
	}
	rf := map[string]any{"id": s.id("rfnd"), "entity": "refund", "amount": req.Amount, "payment_id": id,
		"receipt": req.Receipt, "status": "processed", "created_at": time.Now().Unix()}
	s.refunds[id] = append(s.refunds[id], rf)
	p["amount_refunded"] = req.Amount
	p["refund_status"] = "full"
	respond(w, rf)
}

func (s *Server) listRefunds(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := []any{}
	for _, rf := range s.refunds[r.PathValue("id")] {
		items = append(items, rf)
	}
	respond(w, map[string]any{"entity": "collection", "count": len(items), "items": items})
}

// Checkout is what Razorpay Checkout hands the browser after a payment, the API client's
// view of it.
type Checkout = apiclient.RazorpayCheckout

// Pay makes a payment for Razorpay order orderID as Checkout does: captured at once when
// succeed (the order becomes paid), failed otherwise. It returns what Checkout hands the
// browser (a signature only for a success).
func (s *Server) Pay(orderID string, succeed bool) Checkout {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[orderID]
	if !ok {
		s.t.Fatalf("razorpaymock: no order %s", orderID)
	}
	p := map[string]any{"id": s.id("pay"), "entity": "payment", "amount": o["amount"], "currency": o["currency"],
		"order_id": orderID, "method": "card", "captured": false, "status": "failed",
		"error_description": "Your payment could not be completed as the card was declined.",
		"notes":             o["notes"], "created_at": time.Now().Unix()}
	o["attempts"] = o["attempts"].(int) + 1
	s.payments[p["id"].(string)] = p
	if !succeed {
		return Checkout{PaymentID: p["id"].(string), OrderID: orderID}
	}
	p["status"], p["captured"], p["error_description"] = "captured", true, nil
	o["status"], o["amount_paid"], o["amount_due"] = "paid", o["amount"], int64(0)
	s.captures++
	return Checkout{PaymentID: p["id"].(string), OrderID: orderID,
		Signature: provider.RazorpayCheckoutSignature(orderID, p["id"].(string), s.KeySecret)}
}

// checkoutJS is the fake checkout.js: new Razorpay(options).open() pays options.order_id
// through /test/pay (a success) and calls options.handler with what Checkout hands the
// browser; on('payment.failed', f) is accepted.
func (s *Server) checkoutJS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/javascript")
	fmt.Fprintf(w, `window.Razorpay = function (opts) {
  this.on = function () {};
  this.open = function () {
    fetch(%q, { method: 'POST', body: JSON.stringify({ key: opts.key, order_id: opts.order_id, amount: String(opts.amount) }) })
      .then(function (r) { return r.json(); })
      .then(function (res) { opts.handler(res); });
  };
};
`, s.srv.URL+"/test/pay")
}

// testPay is Checkout's payment: it checks the key id and the amount against the order, and
// answers what Checkout hands the browser.
func (s *Server) testPay(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	var req struct {
		Key     string `json:"key"`
		OrderID string `json:"order_id"`
		Amount  string `json:"amount"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "The request body is not JSON")
		return
	}
	s.mu.Lock()
	o, ok := s.orders[req.OrderID]
	amount := ""
	if ok {
		amount = fmt.Sprint(o["amount"])
	}
	s.mu.Unlock()
	if req.Key != s.KeyID || !ok || amount != req.Amount {
		fail(w, http.StatusBadRequest, "Checkout was opened with another key, order or amount")
		return
	}
	respond(w, s.Pay(req.OrderID, true))
}

// Webhook is one signed webhook delivery.
type Webhook struct {
	EventID   string
	Body      []byte
	Signature string
}

// Event builds the webhook of event (payment.captured, payment.failed, order.paid) about
// payment paymentID, created at at, signed with the webhook secret.
func (s *Server) Event(event, paymentID string, at time.Time) Webhook {
	s.t.Helper()
	s.mu.Lock()
	p, ok := s.payments[paymentID]
	if !ok {
		s.mu.Unlock()
		s.t.Fatalf("razorpaymock: no payment %s", paymentID)
	}
	payload := map[string]any{"payment": map[string]any{"entity": p}}
	if event == "order.paid" {
		payload["order"] = map[string]any{"entity": s.orders[p["order_id"].(string)]}
	}
	body, err := json.Marshal(map[string]any{"entity": "event", "account_id": "acc_fake", "event": event,
		"contains": []string{"payment"}, "payload": payload, "created_at": at.Unix()})
	eventID := s.id("evt")
	s.mu.Unlock()
	if err != nil {
		s.t.Fatal(err)
	}
	return Webhook{EventID: eventID, Body: body, Signature: provider.RazorpayWebhookSignature(body, s.WebhookSecret)}
}

// Send delivers wh to WebhookURL as Razorpay does, and returns the status and body of the
// answer.
func (s *Server) Send(wh Webhook) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.WebhookURL, bytes.NewReader(wh.Body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Razorpay-Signature", wh.Signature)
	req.Header.Set("X-Razorpay-Event-Id", wh.EventID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

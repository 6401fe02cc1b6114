package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeStripe stands in for Stripe in the browser tests: the PaymentIntents API that the
// payments service calls (STRIPE_API_BASE), a Stripe.js whose Payment Element is one card
// field and whose confirmPayment asks this server to confirm, and, on confirmation, the
// webhook that Stripe sends, signed with the endpoint's secret, to the platform's
// /api/payments/webhook. The order then completes through the same code as in production.
type fakeStripe struct {
	t          testing.TB
	srv        *httptest.Server
	secret     string // the webhook signing secret
	webhookURL string

	mu      sync.Mutex
	n       int
	intents map[string]map[string]any // by id
	byKey   map[string]string         // idempotency key -> intent id
	refunds map[string]int            // intent id -> refunds made
}

func newFakeStripe(t testing.TB, webhookSecret string) *fakeStripe {
	f := &fakeStripe{t: t, secret: webhookSecret, intents: map[string]map[string]any{}, byKey: map[string]string{}, refunds: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/payment_intents", f.form(f.createIntent))
	mux.HandleFunc("POST /v1/refunds", f.form(f.refund))
	mux.HandleFunc("GET /v3/", f.stripeJS)
	mux.HandleFunc("POST /test/confirm", f.confirm)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeStripe) URL() string { return f.srv.URL }

// form serves h with the request's form parsed (400 when it does not parse) and f.mu held.
func (f *fakeStripe) form(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		h(w, r)
	}
}

// createIntent creates a PaymentIntent, once per idempotency key (under form).
func (f *fakeStripe) createIntent(w http.ResponseWriter, r *http.Request) {
	if id, ok := f.byKey[r.Header.Get("Idempotency-Key")]; ok {
		writeJSON(w, f.intents[id])
		return
	}
	f.n++
	id := fmt.Sprintf("pi_fake%d", f.n)
	amount, _ := strconv.ParseInt(r.PostForm.Get("amount"), 10, 64)
	pi := map[string]any{
		"id": id, "object": "payment_intent", "amount": amount, "currency": r.PostForm.Get("currency"),
		"status": "requires_payment_method", "client_secret": id + "_secret_fake",
		"metadata": map[string]string{"orderId": r.PostForm.Get("metadata[orderId]"), "attempt": r.PostForm.Get("metadata[attempt]")},
	}
	f.intents[id] = pi
	f.byKey[r.Header.Get("Idempotency-Key")] = id
	writeJSON(w, pi)
}

// refund refunds a succeeded intent in full, once per idempotency key (under form).
func (f *fakeStripe) refund(w http.ResponseWriter, r *http.Request) {
	id := r.PostForm.Get("payment_intent")
	pi := f.intents[id]
	if pi == nil || pi["status"] != "succeeded" {
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]any{"error": map[string]string{"type": "invalid_request_error", "message": "No succeeded payment_intent " + id}})
		return
	}
	key := "refund:" + r.Header.Get("Idempotency-Key")
	if _, again := f.byKey[key]; !again {
		f.byKey[key] = id
		f.refunds[id]++
	}
	writeJSON(w, map[string]any{"id": "re_" + id, "object": "refund", "status": "succeeded", "payment_intent": id, "amount": pi["amount"]})
}

// refunded is how many refunds intent id had.
func (f *fakeStripe) refunded(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refunds[id]
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// stripeJS is the fake Stripe.js: Stripe(key).elements({clientSecret}).create('payment')
// mounts a card number field; confirmPayment posts it with the client secret to /test/confirm.
func (f *fakeStripe) stripeJS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/javascript")
	fmt.Fprintf(w, `window.Stripe = function (key) {
  return {
    elements: function (opts) {
      return {
        clientSecret: opts.clientSecret,
        create: function () {
          return { mount: function (el) {
            var input = document.createElement('input');
            input.setAttribute('data-testid', 'fake-card');
            input.setAttribute('aria-label', 'Card number');
            input.value = '4242 4242 4242 4242';
            el.appendChild(input);
          } };
        }
      };
    },
    confirmPayment: function (o) {
      var card = document.querySelector('[data-testid="fake-card"]').value;
      return fetch(%q, { method: 'POST', body: JSON.stringify({ clientSecret: o.elements.clientSecret, card: card, key: key }) })
        .then(function (r) { return r.json(); });
    }
  };
};
`, f.srv.URL+"/test/confirm")
}

// confirm confirms the intent of a client secret and sends Stripe's signed webhook.
func (f *fakeStripe) confirm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	var req struct{ ClientSecret, Card, Key string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, _, _ := strings.Cut(req.ClientSecret, "_secret_")
	f.mu.Lock()
	pi := f.intents[id]
	if pi != nil {
		pi["status"] = "succeeded"
	}
	f.mu.Unlock()
	switch {
	case pi == nil || !strings.HasPrefix(req.Key, "pk_test_"):
		writeJSON(w, map[string]any{"error": map[string]string{"message": "No such payment_intent."}})
		return
	case strings.ReplaceAll(req.Card, " ", "") == "4000000000000002":
		// As Stripe: the intent stays open for another card, and payment_failed is sent.
		f.mu.Lock()
		pi["status"] = "requires_payment_method"
		failed := maps.Clone(pi)
		f.mu.Unlock()
		failed["last_payment_error"] = map[string]any{"message": "Your card was declined.", "type": "card_error", "code": "card_declined"}
		if err := f.sendWebhook("payment_intent.payment_failed", failed); err != nil {
			f.t.Errorf("webhook: %v", err)
		}
		writeJSON(w, map[string]any{"error": map[string]string{"message": "Your card was declined.", "code": "card_declined"}})
		return
	}
	if err := f.sendWebhook("payment_intent.succeeded", pi); err != nil {
		f.t.Errorf("webhook: %v", err)
		writeJSON(w, map[string]any{"error": map[string]string{"message": err.Error()}})
		return
	}
	writeJSON(w, map[string]any{"paymentIntent": pi})
}

// sendWebhook posts an event about obj to the platform, signed as Stripe signs it.
func (f *fakeStripe) sendWebhook(typ string, obj map[string]any) error {
	f.mu.Lock()
	f.n++
	evt := map[string]any{"id": fmt.Sprintf("evt_fake%d", f.n), "object": "event", "type": typ,
		"api_version": "2023-10-16", "created": time.Now().Unix(), "livemode": false,
		"data": map[string]any{"object": obj}}
	payload, err := json.Marshal(evt)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(f.secret))
	mac.Write([]byte(ts + "." + string(payload)))
	req, err := http.NewRequest(http.MethodPost, f.webhookURL, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", "t="+ts+",v1="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("webhook answered %d: %s", resp.StatusCode, body)
	}
	return nil
}

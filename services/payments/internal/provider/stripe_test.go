package provider_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"ticketing/services/payments/internal/provider"
	"ticketing/services/payments/internal/stripemock"
)

// recorder keeps every request sent to Stripe, with its form body.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
	next http.RoundTripper
}

type recorded struct {
	method, path, idempotencyKey string
	form                         url.Values
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(strings.NewReader(string(body)))
	form, _ := url.ParseQuery(string(body))
	r.mu.Lock()
	r.reqs = append(r.reqs, recorded{req.Method, req.URL.Path, req.Header.Get("Idempotency-Key"), form})
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recorder) take() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

func newStripe(t *testing.T, base string) (*provider.Stripe, *recorder) {
	rec := &recorder{next: http.DefaultTransport}
	return provider.NewStripe(provider.StripeOptions{
		SecretKey: "sk_test_123", APIBase: base, HTTPClient: &http.Client{Transport: rec}, MaxNetworkRetries: -1,
	}), rec
}

func wantForm(t *testing.T, r recorded, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := r.form.Get(k); got != v {
			t.Errorf("%s %s: %s = %q, want %q (form %v)", r.method, r.path, k, got, v, r.form)
		}
	}
}

// The exact requests the Stripe provider sends pass stripe-mock, which validates them
// against Stripe's OpenAPI schema (unknown or ill-typed parameters are refused).
func TestStripeRequestsAcceptedByStripeMock(t *testing.T) {
	base := stripemock.Start(t)
	p, rec := newStripe(t, base)
	ctx := context.Background()

	t.Run("create and confirm with a payment method", func(t *testing.T) {
		in, err := p.Charge(ctx, provider.ChargeRequest{OrderID: "o1", Attempt: 1, AmountCents: 2050, Currency: "usd",
			PaymentMethod: "pm_card_visa", IdempotencyKey: "pay-o1-1"})
		if err != nil {
			t.Fatalf("charge: %v", err)
		}
		if !strings.HasPrefix(in.ID, "pi_") {
			t.Fatalf("intent id %q", in.ID)
		}
		reqs := rec.take()
		if len(reqs) != 1 || reqs[0].method != "POST" || reqs[0].path != "/v1/payment_intents" {
			t.Fatalf("requests: %+v", reqs)
		}
		if reqs[0].idempotencyKey != "pay-o1-1" {
			t.Errorf("Idempotency-Key %q", reqs[0].idempotencyKey)
		}
		wantForm(t, reqs[0], map[string]string{"amount": "2050", "currency": "usd", "confirm": "true",
			"payment_method": "pm_card_visa", "payment_method_types[0]": "card", "error_on_requires_action": "true",
			"metadata[orderId]": "o1", "metadata[attempt]": "1"})
	})

	t.Run("create and confirm with a card token", func(t *testing.T) {
		_, err := p.Charge(ctx, provider.ChargeRequest{OrderID: "o2", Attempt: 2, AmountCents: 100, Currency: "usd",
			Token: "tok_visa", IdempotencyKey: "pay-o2-2"})
		if err != nil {
			t.Fatalf("charge: %v", err)
		}
		reqs := rec.take()
		if len(reqs) != 2 || reqs[0].path != "/v1/payment_methods" || reqs[1].path != "/v1/payment_intents" {
			t.Fatalf("requests: %+v", reqs)
		}
		wantForm(t, reqs[0], map[string]string{"type": "card", "card[token]": "tok_visa", "metadata[orderId]": "o2"})
		if reqs[0].idempotencyKey != "pay-o2-2-pm" || reqs[1].idempotencyKey != "pay-o2-2" {
			t.Errorf("keys %q %q", reqs[0].idempotencyKey, reqs[1].idempotencyKey)
		}
		// stripe-mock returns its fixture's PaymentMethod id; the intent must use it.
		if reqs[1].form.Get("payment_method") == "" || reqs[1].form.Get("confirm") != "true" {
			t.Errorf("intent form %v", reqs[1].form)
		}
	})

	t.Run("create without confirming, for Stripe.js", func(t *testing.T) {
		in, err := p.CreateIntent(ctx, provider.IntentRequest{OrderID: "o3", Attempt: 1, AmountCents: 999, Currency: "usd",
			IdempotencyKey: "pay-o3-1"})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if in.ClientSecret == "" {
			t.Errorf("no client secret in %+v", in)
		}
		reqs := rec.take()
		if len(reqs) != 1 || reqs[0].idempotencyKey != "pay-o3-1" {
			t.Fatalf("requests: %+v", reqs)
		}
		wantForm(t, reqs[0], map[string]string{"amount": "999", "currency": "usd", "automatic_payment_methods[enabled]": "true",
			"metadata[orderId]": "o3", "metadata[attempt]": "1", "confirm": "", "payment_method": ""})
	})

	t.Run("refund", func(t *testing.T) {
		if _, err := p.Refund(ctx, provider.RefundRequest{OrderID: "o1", PaymentIntentID: "pi_123", Reason: "order cancelled",
			IdempotencyKey: "refund-o1"}); err != nil {
			t.Fatalf("refund: %v", err)
		}
		reqs := rec.take()
		if len(reqs) != 1 || reqs[0].path != "/v1/refunds" || reqs[0].idempotencyKey != "refund-o1" {
			t.Fatalf("requests: %+v", reqs)
		}
		wantForm(t, reqs[0], map[string]string{"payment_intent": "pi_123", "reason": "requested_by_customer",
			"metadata[orderId]": "o1", "metadata[reason]": "order cancelled"})
	})

	t.Run("look a PaymentIntent up, for the reconciler", func(t *testing.T) {
		in, err := p.Lookup(ctx, "pi_123")
		if err != nil {
			t.Fatalf("lookup: %v", err)
		}
		if in.ID == "" || in.Status == "" {
			t.Errorf("lookup = %+v, want the intent with its status", in)
		}
		reqs := rec.take()
		if len(reqs) != 1 || reqs[0].method != "GET" || reqs[0].path != "/v1/payment_intents/pi_123" {
			t.Fatalf("requests: %+v", reqs)
		}
	})

	t.Run("stripe-mock refuses what Stripe would", func(t *testing.T) {
		// The check above is only worth something if stripe-mock validates: a token passed
		// where PaymentIntents take no card data is refused.
		form := url.Values{"amount": {"100"}, "currency": {"usd"}, "confirm": {"true"},
			"payment_method_data[type]": {"card"}, "payment_method_data[card][token]": {"tok_visa"}}
		req, _ := http.NewRequest("POST", base+"/v1/payment_intents", strings.NewReader(form.Encode()))
		req.SetBasicAuth("sk_test_123", "")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("stripe-mock answered %d to payment_method_data[card][token], want 400", resp.StatusCode)
		}
	})
}

// Stripe's error answers map to the provider's errors: a card error is a decline carrying
// Stripe's message, an idempotency error ErrIdempotency, an unknown payment method an
// InvalidError, a 500 a plain (retryable) error.
func TestStripeErrorMapping(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		check  func(t *testing.T, err error)
	}{
		{"declined", 402, `{"error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline","message":"Your card was declined.","payment_intent":{"id":"pi_9","object":"payment_intent"}}}`,
			func(t *testing.T, err error) {
				var d *provider.DeclinedError
				if !errors.As(err, &d) || d.Message != "Your card was declined." || d.IntentID != "pi_9" || d.DeclineCode != "generic_decline" {
					t.Fatalf("got %#v", err)
				}
			}},
		{"idempotency", 400, `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}`,
			func(t *testing.T, err error) {
				if !errors.Is(err, provider.ErrIdempotency) {
					t.Fatalf("got %v", err)
				}
			}},
		{"key in use", 409, `{"error":{"type":"invalid_request_error","code":"idempotency_key_in_use","message":"There is currently another in-progress request using this Idempotent Key."}}`,
			func(t *testing.T, err error) {
				if !errors.Is(err, provider.ErrIdempotency) {
					t.Fatalf("got %v", err)
				}
			}},
		{"unknown method", 400, `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"payment_method","message":"No such PaymentMethod: 'pm_nope'"}}`,
			func(t *testing.T, err error) {
				var inv *provider.InvalidError
				if !errors.As(err, &inv) || inv.Param != "payment_method" {
					t.Fatalf("got %#v", err)
				}
			}},
		{"amount too small", 400, `{"error":{"type":"invalid_request_error","code":"amount_too_small","param":"amount","message":"Amount must be at least $0.50 usd"}}`,
			func(t *testing.T, err error) {
				var inv *provider.InvalidError
				if !errors.As(err, &inv) || inv.Param != "amount" {
					t.Fatalf("got %#v", err)
				}
			}},
		{"server error", 500, `{"error":{"type":"api_error","message":"boom"}}`,
			func(t *testing.T, err error) {
				var d *provider.DeclinedError
				var inv *provider.InvalidError
				if err == nil || errors.As(err, &d) || errors.As(err, &inv) || errors.Is(err, provider.ErrIdempotency) {
					t.Fatalf("got %#v", err)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			p := provider.NewStripe(provider.StripeOptions{SecretKey: "sk_test_1", APIBase: srv.URL, MaxNetworkRetries: -1})
			_, err := p.Charge(context.Background(), provider.ChargeRequest{OrderID: "o", Attempt: 1, AmountCents: 100,
				Currency: "usd", PaymentMethod: "pm_card_visa", IdempotencyKey: "k"})
			tc.check(t, err)
		})
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"ticketing/common/apiclient"
)

// TestPaymentSagaEndToEnd runs the payment saga through every service of the stack, with the
// Stripe provider against the fake Stripe and its signed webhooks. Holds last 15 s (room
// for a loaded machine to start every payment within them) and a payment that starts is
// waited for 20 s (PAYMENT_GRACE):
//
//   - A starts paying, and its card is confirmed after the original deadline: complete, no
//     refund;
//   - B starts paying, and its card is confirmed after the extended deadline: the order
//     expired, the payment is refunded, and the order's history says so;
//   - C starts paying and the card is declined: created again with its original deadline, at
//     which it expires.
func TestPaymentSagaEndToEnd(t *testing.T) {
	const webhookSecret = "whsec_saga_test"
	stripe := newFakeStripe(t, webhookSecret)
	s := startStorefrontStack(t, map[string]string{
		"EXPIRATION_WINDOW": "15s", "PAYMENT_GRACE": "20s", "HOLD_GRACE": "5s",
		"PAYMENT_PROVIDER": "stripe", "STRIPE_SECRET_KEY": "sk_test_saga", "STRIPE_PUBLISHABLE_KEY": "pk_test_saga",
		"STRIPE_WEBHOOK_SECRET": webhookSecret, "STRIPE_API_BASE": stripe.URL(),
	})
	stripe.webhookURL = s.URL + "/api/payments/webhook"
	c := newClient(t, s.URL)
	seller := c.signup("saga-seller@example.com")
	buyers := c.users("saga-buyer", 3)

	type placed struct {
		id, intent, secret string
		deadline           time.Time // the original expiresAt
		buyer              user
	}
	var orders []placed
	for i, b := range buyers {
		tk := c.createTicket(seller, "Saga "+string(rune('A'+i)), 20)
		eventually(t, 20*time.Second, "ticket listed", func() bool { return c.listed(tk.ID) })
		r := c.orderWhenReady(b, tk.ID)
		if r.Status != 201 {
			t.Fatalf("order: %d %s", r.Status, r.Body)
		}
		var o apiclient.Order
		r.JSON(&o)
		orders = append(orders, placed{id: o.ID, deadline: o.ExpiresAt, buyer: b})
	}
	// Every payment starts: the order waits for it, its deadline extended.
	for i := range orders {
		o := &orders[i]
		var p apiclient.Payment
		c.must(201, "POST", "/api/payments", o.buyer.Token, map[string]string{"orderId": o.id}).Strict(&p)
		if p.StripeID == "" || p.ClientSecret == "" {
			t.Fatalf("payment %+v: no intent or client secret", p)
		}
		o.intent, o.secret = p.StripeID, p.ClientSecret
		eventually(t, 20*time.Second, "order awaiting its payment", func() bool {
			v := c.order(o.buyer, o.id)
			return v.Status == apiclient.OrderAwaiting && v.ExpiresAt.After(o.deadline)
		})
	}
	a, b, cc := orders[0], orders[1], orders[2]

	// C's card is declined: created again, with its original deadline.
	stripe.mu.Lock()
	declined := map[string]any{"id": cc.intent, "object": "payment_intent", "status": "requires_payment_method",
		"metadata":           map[string]string{"orderId": cc.id, "attempt": "1"},
		"last_payment_error": map[string]any{"message": "Your card was declined.", "type": "card_error"}}
	stripe.mu.Unlock()
	if err := stripe.sendWebhook("payment_intent.payment_failed", declined); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "C created again", func() bool {
		v := c.order(cc.buyer, cc.id)
		return v.Status == apiclient.OrderCreated && v.ExpiresAt.Equal(cc.deadline)
	})

	// Past the original deadline: A and B still wait for their payments; C expired.
	eventually(t, time.Until(a.deadline)+20*time.Second, "C expired at its original deadline", func() bool {
		return c.order(cc.buyer, cc.id).Status == apiclient.OrderCancelled
	})
	for _, o := range []placed{a, b} {
		if time.Now().Before(o.deadline) {
			t.Fatal("C expired before its deadline")
		}
		if v := c.order(o.buyer, o.id); v.Status != apiclient.OrderAwaiting {
			t.Fatalf("order %s after its original deadline: %s, want awaiting:payment", o.id, v.Status)
		}
	}

	// A's card is confirmed after its original deadline: complete, no refund.
	confirm(t, stripe, a.secret)
	eventually(t, 20*time.Second, "A complete", func() bool { return c.order(a.buyer, a.id).Status == apiclient.OrderComplete })

	// B's extended deadline passes: expired; its card confirmed then is refunded.
	eventually(t, 60*time.Second, "B expired at its extended deadline", func() bool {
		return c.order(b.buyer, b.id).Status == apiclient.OrderCancelled
	})
	confirm(t, stripe, b.secret)
	eventually(t, 30*time.Second, "B refunded", func() bool { return stripe.refunded(b.intent) == 1 })
	eventually(t, 20*time.Second, "B's history shows the refund", func() bool {
		return slices.Contains(c.order(b.buyer, b.id).Causes(), "refunded")
	})
	if n := stripe.refunded(a.intent); n != 0 {
		t.Fatalf("A refunded %d times", n)
	}
	for o, want := range map[placed][]string{
		a:  {"created", "payment-started", "paid"},
		b:  {"created", "payment-started", "expired", "refunded"},
		cc: {"created", "payment-started", "payment-failed", "expired"},
	} {
		if got := c.order(o.buyer, o.id).Causes(); !slices.Equal(got, want) {
			t.Errorf("order %s history %v, want %v", o.id, got, want)
		}
	}
}

// confirm confirms the intent of a client secret with a good card, as Stripe.js does: the
// fake Stripe then sends payment_intent.succeeded.
func confirm(t *testing.T, f *fakeStripe, secret string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"ClientSecret": secret, "Card": "4242 4242 4242 4242", "Key": "pk_test_saga"})
	resp, err := http.Post(f.URL()+"/test/confirm", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out["error"] != nil {
		t.Fatalf("confirm: %v %v", out, err)
	}
}

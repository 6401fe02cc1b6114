package payments_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"ticketing/common/events"
	"ticketing/services/payments/internal/payment"
)

// Every row of API.md's Payments table, with its status code, over real HTTP.
func TestPaymentsAPI(t *testing.T) {
	h := start(t, nil)
	alice, bob := "alice", "bob"

	t.Run("401 not signed in", func(t *testing.T) {
		o := h.order(alice, 2000, 15*time.Minute)
		r := h.pay("", map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
		if r.Status != 401 || r.message() == "" {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
	})

	t.Run("400 invalid bodies", func(t *testing.T) {
		tok := h.order(alice, 2000, 15*time.Minute).Token
		for body, field := range map[string]string{
			`{`:                                  "",
			`[]`:                                 "",
			`{"orderId": 5}`:                     "orderId",
			`{"paymentMethodId":"pm_card_visa"}`: "orderId",
			`{"orderId":"x","extra":1}`:          "extra",
			`{"orderId":"x","paymentMethodId":"pm_card_visa","token":"tok_visa"}`: "token",
			`{"orderId":"x","paymentMethodId":""}`:                                "paymentMethodId",
			`{"orderId":"x","token":"tok visa; drop"}`:                            "token",
			`{"orderId":"x"} {"orderId":"y"}`:                                     "",
			``:                                                                    "",
		} {
			r := h.pay(tok, body)
			if r.Status != 400 {
				t.Errorf("%s: got %d %s", body, r.Status, r.Raw)
				continue
			}
			if field != "" && !strings.Contains(r.Raw, `"field":"`+field+`"`) {
				t.Errorf("%s: no field %s in %s", body, field, r.Raw)
			}
		}
	})

	t.Run("404 unknown or malformed order", func(t *testing.T) {
		tok := h.order(alice, 2000, 15*time.Minute).Token
		for _, id := range []string{"65f000000000000000000000", "not-an-id", "../../x"} {
			r := h.pay(tok, map[string]any{"orderId": id, "paymentMethodId": "pm_card_visa"})
			if r.Status != 404 {
				t.Errorf("%s: got %d %s", id, r.Status, r.Raw)
			}
		}
	})

	t.Run("403 another user's order", func(t *testing.T) {
		o := h.order(alice, 2000, 15*time.Minute)
		other := h.order(bob, 100, 15*time.Minute)
		r := h.pay(other.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
		if r.Status != 403 {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
		if h.offline.Charges() != 0 || h.payments(o.ID) != 0 {
			t.Fatal("a forbidden request charged or stored")
		}
	})

	t.Run("409 order cancelled", func(t *testing.T) {
		o := h.order(alice, 2000, 15*time.Minute)
		h.cancel(o, 1)
		h.waitOrder(o.ID, 1)
		r := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
		if r.Status != 409 || r.message() != "Order has been cancelled" {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
	})

	t.Run("409 order expired", func(t *testing.T) {
		o := h.order(alice, 2000, -time.Second)
		r := h.pay(o.Token, map[string]any{"orderId": o.ID, "token": "tok_visa"})
		if r.Status != 409 || r.message() != "Order has expired" {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
	})

	charges := h.offline.Charges()
	t.Run("201 with paymentMethodId, 201 same payment on retry, 409 once paid", func(t *testing.T) {
		o := h.order(alice, 2050, 15*time.Minute)
		r := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
		if r.Status != 201 || r.str("status") != "succeeded" || r.str("orderId") != o.ID ||
			!strings.HasPrefix(r.str("stripeId"), "pi_") || r.str("id") == "" || r.str("clientSecret") != "" {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
		again := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
		if again.Status != 201 || again.str("id") != r.str("id") || again.str("stripeId") != r.str("stripeId") {
			t.Fatalf("retry: got %d %s", again.Status, again.Raw)
		}
		if got := h.offline.Charges() - charges; got != 1 {
			t.Fatalf("%d charges, want 1", got)
		}
		h.settled(o.ID)
		created := messages[events.PaymentCreated](h)
		if len(created) == 0 || created[len(created)-1] != (events.PaymentCreated{ID: r.str("id"), OrderID: o.ID, StripeID: r.str("stripeId")}) {
			t.Fatalf("payment.created: %+v", created)
		}
		// The orders service completes the order: now it is "already paid".
		h.publish(events.OrderCompleted{ID: o.ID, Version: 1, Ticket: events.TicketRef{ID: "ticket-" + o.ID}})
		h.waitOrder(o.ID, 1)
		paid := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
		if paid.Status != 409 || paid.message() != "Order already paid" {
			t.Fatalf("after completion: got %d %s", paid.Status, paid.Raw)
		}
	})

	t.Run("201 with the seed's card token", func(t *testing.T) {
		o := h.order(alice, 999, 15*time.Minute)
		r := h.pay(o.Token, map[string]any{"orderId": o.ID, "token": "tok_visa"})
		if r.Status != 201 || r.str("status") != "succeeded" {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
	})

	t.Run("402 declined card, nothing paid, then another card pays", func(t *testing.T) {
		o := h.order(alice, 2000, 15*time.Minute)
		before := h.offline.Charges()
		createdBefore := h.published(events.SubjectPaymentCreated)
		for _, card := range []map[string]any{{"paymentMethodId": "pm_card_chargeDeclined"}, {"token": "tok_chargeDeclined"}} {
			card["orderId"] = o.ID
			r := h.pay(o.Token, card)
			if r.Status != 402 || r.message() != "Your card was declined." {
				t.Fatalf("got %d %s", r.Status, r.Raw)
			}
		}
		p, err := h.store.PaymentByOrder(context.Background(), o.ID)
		if err != nil || p.Status != payment.StatusFailed || p.Attempt != 2 {
			t.Fatalf("payment after declines: %+v %v", p, err)
		}
		if h.offline.Charges() != before || h.published(events.SubjectPaymentCreated) != createdBefore {
			t.Fatal("a declined card charged or published payment.created")
		}
		r := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
		if r.Status != 201 || r.str("status") != "succeeded" || r.str("id") != p.ID {
			t.Fatalf("after a decline: got %d %s", r.Status, r.Raw)
		}
		if p, _ := h.store.PaymentByOrder(context.Background(), o.ID); p.Attempt != 3 {
			t.Fatalf("attempt %d, want 3", p.Attempt)
		}
	})

	t.Run("400 unknown payment method", func(t *testing.T) {
		o := h.order(alice, 2000, 15*time.Minute)
		r := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_unknown"})
		if r.Status != 400 || !strings.Contains(r.Raw, `"field":"paymentMethodId"`) {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
	})

	t.Run("201 with clientSecret for orderId alone", func(t *testing.T) {
		o := h.order(alice, 2000, 15*time.Minute)
		r := h.pay(o.Token, map[string]any{"orderId": o.ID})
		if r.Status != 201 || r.str("status") != "requires_payment_method" || r.str("clientSecret") == "" ||
			!strings.HasPrefix(r.str("stripeId"), "pi_") {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
		again := h.pay(o.Token, map[string]any{"orderId": o.ID})
		if again.Status != 201 || again.str("clientSecret") != r.str("clientSecret") || again.str("id") != r.str("id") {
			t.Fatalf("retry: got %d %s", again.Status, again.Raw)
		}
		// A server-side charge would open a second PaymentIntent next to the browser's.
		both := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
		if both.Status != 409 {
			t.Fatalf("charge while the browser confirms: got %d %s", both.Status, both.Raw)
		}
	})

	t.Run("413 body too large", func(t *testing.T) {
		o := h.order(alice, 2000, 15*time.Minute)
		big := `{"orderId":"` + o.ID + `","token":"` + strings.Repeat("a", 2<<20) + `"}`
		if r := h.pay(o.Token, big); r.Status != 413 {
			t.Fatalf("payments: got %d %s", r.Status, r.Raw)
		}
		if r := h.do("POST", "/api/payments/webhook", "", bytes.NewReader([]byte(big)), nil); r.Status != 413 {
			t.Fatalf("webhook: got %d %s", r.Status, r.Raw)
		}
	})

	t.Run("405 and 404 routes in the error shape", func(t *testing.T) {
		if r := h.do("GET", "/api/payments", "", nil, nil); r.Status != 405 || r.message() == "" {
			t.Fatalf("GET: got %d %s", r.Status, r.Raw)
		}
		if r := h.do("GET", "/healthz", "", nil, nil); r.Status != 200 {
			t.Fatalf("healthz: %d", r.Status)
		}
		if r := h.do("GET", "/readyz", "", nil, nil); r.Status != 200 {
			t.Fatalf("readyz: %d %s", r.Status, r.Raw)
		}
	})
}

package payments_test

import (
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
		if r.Status != 401 || r.Message() == "" {
			t.Fatalf("got %d %s", r.Status, r.Body)
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
				t.Errorf("%s: got %d %s", body, r.Status, r.Body)
				continue
			}
			if field != "" && !strings.Contains(string(r.Body), `"field":"`+field+`"`) {
				t.Errorf("%s: no field %s in %s", body, field, r.Body)
			}
		}
	})

	t.Run("404 unknown or malformed order", func(t *testing.T) {
		tok := h.order(alice, 2000, 15*time.Minute).Token
		for _, id := range []string{"65f000000000000000000000", "not-an-id", "../../x"} {
			r := h.pay(tok, map[string]any{"orderId": id, "paymentMethodId": "pm_card_visa"})
			if r.Status != 404 {
				t.Errorf("%s: got %d %s", id, r.Status, r.Body)
			}
		}
	})

	t.Run("403 another user's order", func(t *testing.T) {
		o := h.order(alice, 2000, 15*time.Minute)
		other := h.order(bob, 100, 15*time.Minute)
		r := h.pay(other.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
		if r.Status != 403 {
			t.Fatalf("got %d %s", r.Status, r.Body)
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
		if r.Status != 409 || r.Message() != "Order has been cancelled" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})

	t.Run("409 order expired", func(t *testing.T) {
		o := h.order(alice, 2000, -time.Second)
		r := h.pay(o.Token, map[string]any{"orderId": o.ID, "token": "tok_visa"})
		if r.Status != 409 || r.Message() != "Order has expired" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})

	charges := h.offline.Charges()
	t.Run("201 with paymentMethodId, 201 same payment on retry, 409 once paid", func(t *testing.T) {
		o := h.order(alice, 2050, 15*time.Minute)
		r := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
		if r.Status != 201 || r.Field("status") != "succeeded" || r.Field("orderId") != o.ID ||
			!strings.HasPrefix(r.Field("stripeId"), "pi_") || r.Field("id") == "" || r.Field("clientSecret") != "" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
		again := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
		if again.Status != 201 || again.Field("id") != r.Field("id") || again.Field("stripeId") != r.Field("stripeId") {
			t.Fatalf("retry: got %d %s", again.Status, again.Body)
		}
		if got := h.offline.Charges() - charges; got != 1 {
			t.Fatalf("%d charges, want 1", got)
		}
		h.settled(o.ID)
		created := messages[events.PaymentCreated](h)
		if len(created) == 0 || created[len(created)-1] != (events.PaymentCreated{ID: r.Field("id"), OrderID: o.ID, StripeID: r.Field("stripeId")}) {
			t.Fatalf("payment.created: %+v", created)
		}
		// The orders service completes the order: now it is "already paid".
		h.publish(events.OrderCompleted{ID: o.ID, Version: 1, Ticket: events.TicketRef{ID: "ticket-" + o.ID}})
		h.waitOrder(o.ID, 1)
		paid := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
		if paid.Status != 409 || paid.Message() != "Order already paid" {
			t.Fatalf("after completion: got %d %s", paid.Status, paid.Body)
		}
	})

	t.Run("201 with the seed's card token", func(t *testing.T) {
		o := h.order(alice, 999, 15*time.Minute)
		r := h.pay(o.Token, map[string]any{"orderId": o.ID, "token": "tok_visa"})
		if r.Status != 201 || r.Field("status") != "succeeded" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})

	t.Run("402 declined card, nothing paid, then another card pays", func(t *testing.T) {
		o := h.order(alice, 2000, 15*time.Minute)
		before := h.offline.Charges()
		createdBefore := h.published(events.SubjectPaymentCreated)
		for _, card := range []map[string]any{{"paymentMethodId": "pm_card_chargeDeclined"}, {"token": "tok_chargeDeclined"}} {
			card["orderId"] = o.ID
			r := h.pay(o.Token, card)
			if r.Status != 402 || r.Message() != "Your card was declined." {
				t.Fatalf("got %d %s", r.Status, r.Body)
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
		if r.Status != 201 || r.Field("status") != "succeeded" || r.Field("id") != p.ID {
			t.Fatalf("after a decline: got %d %s", r.Status, r.Body)
		}
		if p, _ := h.store.PaymentByOrder(context.Background(), o.ID); p.Attempt != 3 {
			t.Fatalf("attempt %d, want 3", p.Attempt)
		}
	})

	t.Run("400 unknown payment method", func(t *testing.T) {
		o := h.order(alice, 2000, 15*time.Minute)
		r := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_unknown"})
		if r.Status != 400 || !strings.Contains(string(r.Body), `"field":"paymentMethodId"`) {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})

	t.Run("201 with clientSecret for orderId alone", func(t *testing.T) {
		o := h.order(alice, 2000, 15*time.Minute)
		r := h.pay(o.Token, map[string]any{"orderId": o.ID})
		if r.Status != 201 || r.Field("status") != "requires_payment_method" || r.Field("clientSecret") == "" ||
			!strings.HasPrefix(r.Field("stripeId"), "pi_") {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
		again := h.pay(o.Token, map[string]any{"orderId": o.ID})
		if again.Status != 201 || again.Field("clientSecret") != r.Field("clientSecret") || again.Field("id") != r.Field("id") {
			t.Fatalf("retry: got %d %s", again.Status, again.Body)
		}
		// A server-side charge would open a second PaymentIntent next to the browser's.
		both := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
		if both.Status != 409 {
			t.Fatalf("charge while the browser confirms: got %d %s", both.Status, both.Body)
		}
	})

	t.Run("413 body too large", func(t *testing.T) {
		o := h.order(alice, 2000, 15*time.Minute)
		big := `{"orderId":"` + o.ID + `","token":"` + strings.Repeat("a", 2<<20) + `"}`
		if r := h.pay(o.Token, big); r.Status != 413 {
			t.Fatalf("payments: got %d %s", r.Status, r.Body)
		}
		if r := h.do("POST", "/api/payments/webhook", "", big, nil); r.Status != 413 {
			t.Fatalf("webhook: got %d %s", r.Status, r.Body)
		}
	})

	t.Run("405 and 404 routes in the error shape", func(t *testing.T) {
		if r := h.do("GET", "/api/payments", "", nil, nil); r.Status != 405 || r.Message() == "" {
			t.Fatalf("GET: got %d %s", r.Status, r.Body)
		}
		if r := h.do("GET", "/healthz", "", nil, nil); r.Status != 200 {
			t.Fatalf("healthz: %d", r.Status)
		}
		if r := h.do("GET", "/readyz", "", nil, nil); r.Status != 200 {
			t.Fatalf("readyz: %d %s", r.Status, r.Body)
		}
	})
}

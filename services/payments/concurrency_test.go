package payments_test

import (
	"sync"
	"testing"
	"time"

	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/payments/internal/provider"
)

// 20 concurrent POST /api/payments for one order: one charge at the provider, one payment
// document, one payment.created; every answer is 201 with that payment or 409.
func TestConcurrentPaymentsChargeOnce(t *testing.T) {
	h := start(t, nil)
	o := h.order("carol", 4200, 15*time.Minute)

	const n = 20
	results := testkit.AtOnce(n, func(int) testkit.Reply {
		return h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
	})

	var paymentID, stripeID string
	created, conflicts := 0, 0
	for _, r := range results {
		switch r.Status {
		case 201:
			created++
			if r.Field("status") != "succeeded" {
				t.Errorf("201 with status %q", r.Field("status"))
			}
			if paymentID == "" {
				paymentID, stripeID = r.Field("id"), r.Field("stripeId")
			}
			if r.Field("id") != paymentID || r.Field("stripeId") != stripeID {
				t.Errorf("two payments: %s/%s and %s/%s", paymentID, stripeID, r.Field("id"), r.Field("stripeId"))
			}
		case 409:
			conflicts++
		default:
			t.Errorf("unexpected answer %d %s", r.Status, r.Body)
		}
	}
	if created == 0 {
		t.Fatalf("no request paid (%d conflicts)", conflicts)
	}
	t.Logf("%d answered 201, %d answered 409", created, conflicts)
	if c := h.offline.Charges(); c != 1 {
		t.Fatalf("%d charges at the provider, want 1", c)
	}
	if p := h.payments(o.ID); p != 1 {
		t.Fatalf("%d payment documents, want 1", p)
	}
	h.settled(o.ID)
	if got := messages[events.PaymentCreated](h); len(got) != 1 || got[0].ID != paymentID || got[0].StripeID != stripeID {
		t.Fatalf("payment.created: %+v", got)
	}
	// A retry after the storm still answers the same payment.
	if r := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"}); r.Status != 201 || r.Field("id") != paymentID {
		t.Fatalf("retry: %d %s", r.Status, r.Body)
	}
	if c := h.offline.Charges(); c != 1 {
		t.Fatalf("%d charges after the retry", c)
	}
}

// The same storm while the first charge is held in flight at the provider: the others reach
// the provider with the same key and are refused as Stripe refuses a key in use (409), or
// answer the same payment; still one charge and one payment.created.
func TestConcurrentPaymentsWhileChargeInFlight(t *testing.T) {
	h := start(t, nil)
	o := h.order("erin", 1500, 15*time.Minute)
	release := make(chan struct{})
	var once sync.Once
	h.offline.BeforeCharge(func(provider.ChargeRequest) {
		once.Do(func() { <-release }) // only the first charge waits
	})

	const n = 20
	results := make(chan testkit.Reply, n)
	for range n {
		go func() {
			results <- h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
		}()
	}
	var got []testkit.Reply
	for range n - 1 { // all but the held one answer while it is in flight
		got = append(got, <-results)
	}
	for _, r := range got {
		if r.Status != 409 || r.Message() != "A payment for this order is in progress" {
			t.Errorf("while in flight: %d %s", r.Status, r.Body)
		}
	}
	close(release)
	first := <-results
	if first.Status != 201 || first.Field("status") != "succeeded" {
		t.Fatalf("held request: %d %s", first.Status, first.Body)
	}
	if c := h.offline.Charges(); c != 1 {
		t.Fatalf("%d charges, want 1", c)
	}
	if p := h.payments(o.ID); p != 1 {
		t.Fatalf("%d payment documents", p)
	}
	h.settled(o.ID)
	if got := messages[events.PaymentCreated](h); len(got) != 1 || got[0].ID != first.Field("id") {
		t.Fatalf("payment.created: %+v", got)
	}
}

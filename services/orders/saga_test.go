package orders_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"ticketing/common/apiclient"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/orders/internal/order"
)

// The orders side of the payment saga, over the real service and bus; the test plays the
// payments and expiration services, so the order in which the events arrive is the test's.
// The window is 6 s and PAYMENT_GRACE 6 s: a payment that starts 1 s before the deadline is
// waited for until 5 s after it.
//
//   - A starts 1 s before expiresAt and succeeds 2 s after it: complete (the expiry of the
//     original deadline is dropped);
//   - B starts 1 s before expiresAt and succeeds after the extended deadline: it expired,
//     stays cancelled (payments refunds it), and the refund shows in its history;
//   - C starts and fails at once: created again with its original deadline, at which it
//     expires.
func TestPaymentSaga(t *testing.T) {
	h := newHarness(t, map[string]string{"EXPIRATION_WINDOW": "6s", "PAYMENT_GRACE": "6s", "SWEEP_INTERVAL": "1h"})
	base := h.serve()
	alice := testkit.Token(t, "alice", "alice@example.com")
	tA, tB, tC := h.ticket("A", 100), h.ticket("B", 100), h.ticket("C", 100)
	a, b, c := placeOrder(t, base, alice, tA), placeOrder(t, base, alice, tB), placeOrder(t, base, alice, tC)
	get := func(o apiclient.Order) apiclient.Order { return getOrder(t, base, alice, o.ID) }
	until := func(at time.Time, what string) {
		t.Helper()
		testkit.Eventually(t, time.Until(at)+5*time.Second, what, func() bool { return time.Now().After(at) })
	}
	expire := func(o apiclient.Order, deadline time.Time) {
		t.Helper()
		h.publish(events.ExpirationCompleted{OrderID: o.ID, ExpiresAt: &deadline})
	}
	wantCauses := func(o apiclient.Order, want ...string) {
		t.Helper()
		if got := get(o); fmt.Sprint(got.Causes()) != fmt.Sprint(want) {
			t.Errorf("order %s history %v, want %v", o.ID, got.Causes(), want)
		}
	}
	holder := func(ticket string) string {
		t.Helper()
		r, err := h.st.Replica(context.Background(), ticket)
		if err != nil {
			t.Fatal(err)
		}
		return r.Hold.OrderID
	}

	// C: started and failed at once, well within its window.
	h.publish(events.PaymentStarted{ID: "p-" + c.ID, OrderID: c.ID, Attempt: 1})
	waitHandled[events.PaymentStarted](h)
	if got := get(c); got.Status != "awaiting:payment" || !got.ExpiresAt.After(c.ExpiresAt) {
		t.Fatalf("C after its start: %s until %v (was %v)", got.Status, got.ExpiresAt, c.ExpiresAt)
	}
	h.publish(events.PaymentFailed{ID: "p-" + c.ID, OrderID: c.ID, Attempt: 1, Reason: "Your card was declined."})
	waitHandled[events.PaymentFailed](h)
	if got := get(c); got.Status != "created" || !got.ExpiresAt.Equal(c.ExpiresAt) || got.Version != 2 {
		t.Fatalf("C after its failure: %s v%d until %v, want created v2 until %v", got.Status, got.Version, got.ExpiresAt, c.ExpiresAt)
	}

	// A and B: started one second before their deadline.
	// (B was placed a little after A, so its deadline is a little later: each new deadline is
	// checked against the moment the payments started, PAYMENT_GRACE after it.)
	until(a.ExpiresAt.Add(-time.Second), "one second before the deadline")
	started := time.Now().Truncate(time.Millisecond) // the store keeps milliseconds
	for _, o := range []apiclient.Order{a, b} {
		h.publish(events.PaymentStarted{ID: "p-" + o.ID, OrderID: o.ID, Attempt: 1})
	}
	waitHandled[events.PaymentStarted](h)
	extended := map[string]time.Time{}
	for _, o := range []apiclient.Order{a, b} {
		got := get(o)
		if got.Status != "awaiting:payment" || got.ExpiresAt.Before(started.Add(6*time.Second)) || !got.ExpiresAt.After(o.ExpiresAt) {
			t.Fatalf("order %s after its start: %s until %v, want awaiting:payment until at least 6 s after %v (the start), past %v", o.ID, got.Status, got.ExpiresAt, started, o.ExpiresAt)
		}
		extended[o.ID] = got.ExpiresAt
	}

	// The original deadline passes: its expiries are dropped for A and B, and expire C.
	until(a.ExpiresAt, "past the original deadline")
	for _, o := range []apiclient.Order{a, b, c} {
		expire(o, o.ExpiresAt)
	}
	waitHandled[events.ExpirationCompleted](h)
	for _, o := range []apiclient.Order{a, b} {
		if got := get(o); got.Status != "awaiting:payment" {
			t.Fatalf("order %s after the original deadline: %s, want awaiting:payment", o.ID, got.Status)
		}
	}
	if got := get(c); got.Status != "cancelled" || holder(tC) != "" {
		t.Fatalf("C after its deadline: %s, ticket held by %q", got.Status, holder(tC))
	}
	wantCauses(c, "created", "payment-started", "payment-failed", "expired")

	// A's payment succeeds two seconds after the original deadline: complete.
	until(a.ExpiresAt.Add(2*time.Second), "two seconds after the original deadline")
	h.publish(events.PaymentCreated{ID: "p-" + a.ID, OrderID: a.ID, StripeID: "pi_a"})
	waitHandled[events.PaymentCreated](h)
	if got := get(a); got.Status != "complete" || holder(tA) != a.ID {
		t.Fatalf("A after its payment: %s, ticket held by %q", got.Status, holder(tA))
	}
	wantCauses(a, "created", "payment-started", "paid")
	if r, _ := h.st.Replica(context.Background(), tA); !r.Hold.Until.Equal(order.Forever) {
		t.Errorf("A's hold until %v, want permanent", r.Hold.Until)
	}

	// B's extended deadline passes: it expires; its payment lands after, and is refunded.
	until(extended[b.ID], "past B's extended deadline")
	expire(b, extended[b.ID])
	waitHandled[events.ExpirationCompleted](h)
	h.publish(events.PaymentCreated{ID: "p-" + b.ID, OrderID: b.ID, StripeID: "pi_b"})
	waitHandled[events.PaymentCreated](h)
	h.publish(events.PaymentRefunded{ID: "p-" + b.ID, OrderID: b.ID, StripeID: "pi_b", Reason: "order cancelled"})
	waitHandled[events.PaymentRefunded](h)
	if got := get(b); got.Status != "cancelled" || holder(tB) != "" {
		t.Fatalf("B after its late payment: %s, ticket held by %q", got.Status, holder(tB))
	}
	wantCauses(b, "created", "payment-started", "expired", "refunded")

	// The events: order.updated for every move that did not end an order.
	for o, want := range map[string]string{
		a.ID: "[order.created order.updated order.completed]",
		b.ID: "[order.created order.updated order.cancelled]",
		c.ID: "[order.created order.updated order.updated order.cancelled]",
	} {
		if got := fmt.Sprint(subjects(h.eventsOf(o))); got != want {
			t.Errorf("events of %s = %s, want %s", o, got, want)
		}
	}
}

package payments_test

import (
	"context"
	"testing"
	"time"

	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/payments/internal/payment"
)

// startBeforeDeadline orders for user (a hold of window), waits until one second before the
// deadline and starts the payment with pay: payment.started is published, and the orders
// service (the test) extends the deadline by paymentGrace with order.updated. It returns the
// order, pay's answer and the original deadline.
func startBeforeDeadline(t *testing.T, h *harness, user string, window, paymentGrace time.Duration, pay func(order) testkit.Reply) (order, testkit.Reply, time.Time) {
	t.Helper()
	ctx := context.Background()
	o := h.order(user, 2000, window)
	ro, err := h.store.Order(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, window, "one second before the deadline", func() bool {
		return !time.Now().Before(ro.ExpiresAt.Add(-time.Second))
	})
	r := pay(o)
	eventually(t, "payment.started", func() bool {
		for _, e := range messages[events.PaymentStarted](h) {
			if e.OrderID == o.ID && e.Attempt == 1 && e.ID == r.Field("id") {
				return true
			}
		}
		return false
	})
	extended := time.Now().Add(paymentGrace).UTC().Truncate(time.Millisecond)
	h.publish(events.OrderUpdated{ID: o.ID, Version: 1, Status: events.OrderStatusAwaitingPayment, ExpiresAt: extended,
		Cause: "payment-started", Ticket: events.TicketRef{ID: "ticket-" + o.ID}})
	h.waitOrder(o.ID, 1)
	if got, _ := h.store.Order(ctx, o.ID); got.Status != events.OrderStatusAwaitingPayment || !got.ExpiresAt.Equal(extended) {
		t.Fatalf("replica %+v, want awaiting:payment until %v", got, extended)
	}
	return o, r, ro.ExpiresAt
}

// The payments side of the saga with Stripe's browser flow (the offline provider) and its
// webhook; the test plays the orders service. The hold window is 2 s and the orders service
// extends the deadline by 4 s (PAYMENT_GRACE) when the payment starts.
func TestPaymentSagaWithStripe(t *testing.T) {
	h := start(t, nil)
	ctx := context.Background()
	const window, paymentGrace = 2 * time.Second, 4 * time.Second

	startPayment := func(t *testing.T, user string) (order, testkit.Reply, time.Time) {
		t.Helper()
		return startBeforeDeadline(t, h, user, window, paymentGrace, func(o order) testkit.Reply {
			r := h.pay(o.Token, map[string]any{"orderId": o.ID})
			if r.Status != 201 || r.Field("status") != "requires_payment_method" {
				t.Fatalf("pay: %d %s", r.Status, r.Body)
			}
			return r
		})
	}
	// confirm does what Stripe.js does in the browser.
	confirm := func(t *testing.T, intentID, method string) {
		t.Helper()
		if _, err := h.offline.Confirm(intentID, method); err != nil {
			t.Fatalf("confirm %s with %s: %v", intentID, method, err)
		}
	}
	afterDeadline := func(t *testing.T, deadline time.Time) {
		t.Helper()
		testkit.Eventually(t, 2*window, "past the original deadline", func() bool { return time.Now().After(deadline) })
	}

	t.Run("succeeds after the original deadline: paid", func(t *testing.T) {
		o, r, deadline := startPayment(t, "saga-ok")
		afterDeadline(t, deadline)
		// The replica follows the new deadline: asking again answers the same intent, not 409.
		if again := h.pay(o.Token, map[string]any{"orderId": o.ID}); again.Status != 201 || again.Field("stripeId") != r.Field("stripeId") {
			t.Fatalf("pay again after the original deadline: %d %s", again.Status, again.Body)
		}
		confirm(t, r.Field("stripeId"), "pm_card_visa")
		h.succeeded(t, "evt_saga_ok", r.Field("stripeId"), o.ID)
		h.waitStatus(t, o.ID, payment.StatusSucceeded, "payment succeeded")
		h.settled(o.ID)
		if n := h.offline.Refunds(); n != 0 {
			t.Fatalf("%d refunds, want none", n)
		}
	})

	t.Run("succeeds after the extended deadline: refunded", func(t *testing.T) {
		o, r, _ := startPayment(t, "saga-late")
		// The orders service expired the order at the extended deadline.
		h.cancel(o, 2)
		h.waitOrder(o.ID, 2)
		confirm(t, r.Field("stripeId"), "pm_card_visa")
		h.succeeded(t, "evt_saga_late", r.Field("stripeId"), o.ID)
		h.waitStatus(t, o.ID, payment.StatusRefunded, "payment refunded")
		if _, refunded, _ := h.offline.IntentStatus(r.Field("stripeId")); !refunded {
			t.Fatal("the intent is not refunded at the provider")
		}
	})

	t.Run("fails: payment.failed, once per decline", func(t *testing.T) {
		o, r, _ := startPayment(t, "saga-fail")
		if _, err := h.offline.Confirm(r.Field("stripeId"), "pm_card_chargeDeclined"); err == nil {
			t.Fatal("the declined card was charged")
		}
		ev := intentEvent("evt_saga_fail", "payment_intent.payment_failed", r.Field("stripeId"), o.ID, 1)
		for range 2 { // the same webhook twice: handled once
			if w := h.webhook(ev, time.Time{}); w.Status != 200 {
				t.Fatalf("webhook: %d %s", w.Status, w.Body)
			}
		}
		h.settled(o.ID)
		var got []events.PaymentFailed
		for _, e := range messages[events.PaymentFailed](h) {
			if e.OrderID == o.ID {
				got = append(got, e)
			}
		}
		if len(got) != 1 || got[0].Attempt != 1 || got[0].Reason == "" || got[0].ID != r.Field("id") {
			t.Fatalf("payment.failed of the order: %+v, want one for attempt 1", got)
		}
		// The intent stays open for another card, as at Stripe.
		if p, _ := h.store.PaymentByOrder(ctx, o.ID); p.Status != payment.StatusRequiresPaymentMethod {
			t.Fatalf("payment %s, want requires_payment_method", p.Status)
		}
	})
}

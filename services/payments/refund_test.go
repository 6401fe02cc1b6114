package payments_test

import (
	"context"
	"testing"
	"time"

	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/payments/internal/payment"
	"ticketing/services/payments/internal/provider"
)

// Late success: the payment succeeded, then order.cancelled arrives (the hold expired while
// the card was charged): exactly one refund at the provider and one payment.refunded, even
// when order.cancelled is delivered again.
func TestLateSuccessRefund(t *testing.T) {
	h := start(t, nil)
	ctx := context.Background()
	o := h.order("frank", 3100, 15*time.Minute)
	r := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
	if r.Status != 201 {
		t.Fatalf("pay: %d %s", r.Status, r.Body)
	}
	h.cancel(o, 1)
	h.cancel(o, 1) // redelivered (another message id: JetStream keeps both)
	eventually(t, "payment refunded", func() bool {
		p, err := h.store.PaymentByOrder(ctx, o.ID)
		return err == nil && p.Status == payment.StatusRefunded
	})
	h.settled(o.ID)
	// Let the duplicate be handled too before counting.
	eventually(t, "both order.cancelled handled", func() bool { return h.consumerDone(events.SubjectOrderCancelled) })
	if n := h.offline.Refunds(); n != 1 {
		t.Fatalf("%d refunds, want 1", n)
	}
	want := events.PaymentRefunded{ID: r.Field("id"), OrderID: o.ID, StripeID: r.Field("stripeId"), Reason: "order cancelled"}
	if got := messages[events.PaymentRefunded](h); len(got) != 1 || got[0] != want {
		t.Fatalf("payment.refunded: %+v, want [%+v]", got, want)
	}
	if _, refunded, _ := h.offline.IntentStatus(r.Field("stripeId")); !refunded {
		t.Fatal("the intent is not refunded at the provider")
	}
	if again := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"}); again.Status != 409 {
		t.Fatalf("pay a cancelled order: %d %s", again.Status, again.Body)
	}
}

// The other order of things: order.cancelled arrives while the card is being charged. The
// listener waits (the payment is processing); the charge succeeds, the success path sees the
// order cancelled and refunds; the listener then finds it refunded. One refund, one
// payment.created, one payment.refunded, and the client is told.
func TestCancelledWhileCharging(t *testing.T) {
	h := start(t, nil)
	ctx := context.Background()
	o := h.order("grace", 2500, 15*time.Minute)
	hold, entered := make(chan struct{}), make(chan struct{})
	h.offline.BeforeCharge(func(provider.ChargeRequest) { close(entered); <-hold })

	done := make(chan testkit.Reply, 1)
	go func() { done <- h.pay(o.Token, map[string]any{"orderId": o.ID, "token": "tok_visa"}) }()
	<-entered
	h.cancel(o, 1)
	h.waitOrder(o.ID, 1)
	// The listener saw a processing payment and asked to be called again: nothing refunded.
	eventually(t, "order.cancelled redelivered while the charge is in flight", func() bool {
		return h.redelivered(events.SubjectOrderCancelled)
	})
	if n := h.offline.Refunds(); n != 0 {
		t.Fatalf("%d refunds before the charge settled", n)
	}
	close(hold)
	r := <-done
	if r.Status != 409 || r.Message() != "Order was cancelled while the card was charged; the payment was refunded" {
		t.Fatalf("pay: %d %s", r.Status, r.Body)
	}
	p, err := h.store.PaymentByOrder(ctx, o.ID)
	if err != nil || p.Status != payment.StatusRefunded {
		t.Fatalf("payment %+v %v", p, err)
	}
	h.settled(o.ID)
	eventually(t, "order.cancelled handled", func() bool { return h.consumerDone(events.SubjectOrderCancelled) })
	if n := h.offline.Refunds(); n != 1 {
		t.Fatalf("%d refunds, want 1", n)
	}
	if c := messages[events.PaymentCreated](h); len(c) != 1 {
		t.Fatalf("payment.created: %+v", c)
	}
	if rf := messages[events.PaymentRefunded](h); len(rf) != 1 || rf[0].StripeID != p.StripeID || rf[0].Reason != "order cancelled" {
		t.Fatalf("payment.refunded: %+v", rf)
	}
}

// The browser flow with a cancellation in between: the order is cancelled while its
// PaymentIntent waits for Stripe.js (nothing to refund yet), then the customer confirms and
// the webhook records the success; the refund at that moment fails, and the sweeper retries
// it: one refund, one payment.refunded.
func TestRefundRetriedBySweeper(t *testing.T) {
	h := start(t, func(env map[string]string) { env["REFUND_SWEEP_INTERVAL"] = "200ms" })
	ctx := context.Background()
	o := h.order("ivan", 1800, 15*time.Minute)
	r := h.pay(o.Token, map[string]any{"orderId": o.ID})
	if r.Status != 201 {
		t.Fatalf("pay: %d %s", r.Status, r.Body)
	}
	h.cancel(o, 1)
	eventually(t, "cancellation recorded on the payment", func() bool {
		p, err := h.store.PaymentByOrder(ctx, o.ID)
		return err == nil && p.OrderCancelled
	})
	if _, err := h.offline.Confirm(r.Field("stripeId"), "pm_card_visa"); err != nil {
		t.Fatal(err)
	}
	h.offline.FailRefunds(1)
	if w := h.webhook(intentEvent("evt_late", "payment_intent.succeeded", r.Field("stripeId"), o.ID, 1), time.Time{}); w.Status != 200 {
		t.Fatalf("webhook: %d %s", w.Status, w.Body)
	}
	eventually(t, "refunded by the sweeper", func() bool {
		p, err := h.store.PaymentByOrder(ctx, o.ID)
		return err == nil && p.Status == payment.StatusRefunded
	})
	h.settled(o.ID)
	if n := h.offline.Refunds(); n != 1 {
		t.Fatalf("%d refunds, want 1", n)
	}
	if rf := messages[events.PaymentRefunded](h); len(rf) != 1 || rf[0].StripeID != r.Field("stripeId") {
		t.Fatalf("payment.refunded: %+v", rf)
	}
	if c := messages[events.PaymentCreated](h); len(c) != 1 {
		t.Fatalf("payment.created: %+v", c)
	}
}

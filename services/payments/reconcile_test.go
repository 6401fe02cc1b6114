package payments_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/events"
	"ticketing/services/payments/internal/payment"
)

// Payments confirmed in the browser whose webhooks never come are settled by the reconciler
// (PAYMENT_RECONCILE_AFTER, asking the processor): a success succeeds with one
// payment.created, a decline announces one payment.failed. The webhooks delivered after
// that, and the reconciler's later rounds, change nothing: no second event, charge or refund.
func TestReconcilerSettlesPaymentsWhoseWebhookNeverCame(t *testing.T) {
	h := start(t, func(env map[string]string) {
		env["PAYMENT_RECONCILE_AFTER"], env["PAYMENT_RECONCILE_INTERVAL"] = "300ms", "100ms"
	})
	ctx := context.Background()
	paid, declined := h.order("erin", 2000, 15*time.Minute), h.order("finn", 2000, 15*time.Minute)
	intents := map[string]string{}
	for _, o := range []order{paid, declined} {
		r := h.pay(o.Token, map[string]any{"orderId": o.ID})
		if r.Status != 201 || r.Field("clientSecret") == "" {
			t.Fatalf("browser flow: %d %s", r.Status, r.Body)
		}
		intents[o.ID] = r.Field("stripeId")
	}
	// What Stripe.js does in the browser; Stripe's webhooks are lost.
	if _, err := h.offline.Confirm(intents[paid.ID], "pm_card_visa"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.offline.Confirm(intents[declined.ID], "pm_card_chargeDeclinedInsufficientFunds"); err == nil {
		t.Fatal("a declined card was confirmed")
	}
	const reason = "Your card has insufficient funds."
	eventually(t, "the reconciler settles both payments", func() bool {
		p, err1 := h.store.PaymentByOrder(ctx, paid.ID)
		q, err2 := h.store.PaymentByOrder(ctx, declined.ID)
		return err1 == nil && err2 == nil && p.Status == payment.StatusSucceeded && q.Failure == reason
	})
	h.settled(paid.ID)
	h.settled(declined.ID)
	check := func(when string) {
		t.Helper()
		p, _ := h.store.PaymentByOrder(ctx, paid.ID)
		if got := messages[events.PaymentCreated](h); len(got) != 1 || got[0] != (events.PaymentCreated{ID: p.ID, OrderID: paid.ID, StripeID: intents[paid.ID]}) {
			t.Errorf("%s: payment.created %+v, want one for %s", when, got, paid.ID)
		}
		var failed []events.PaymentFailed
		for _, e := range messages[events.PaymentFailed](h) {
			if e.OrderID == declined.ID {
				failed = append(failed, e)
			}
		}
		if len(failed) != 1 || failed[0].Reason != reason || failed[0].Attempt != 1 {
			t.Errorf("%s: payment.failed of the declined order %+v, want one", when, failed)
		}
		if q, _ := h.store.PaymentByOrder(ctx, declined.ID); q.Status != payment.StatusRequiresPaymentMethod {
			t.Errorf("%s: declined payment %s, want requires_payment_method (another card may be tried)", when, q.Status)
		}
		if c, r := h.offline.Charges(), h.offline.Refunds(); c != 1 || r != 0 {
			t.Errorf("%s: %d charges and %d refunds, want 1 and 0", when, c, r)
		}
	}
	check("reconciled")

	// The webhooks come after all: handled (200), without effect.
	for _, evt := range [][]byte{
		intentEvent("evt_late_succeeded", "payment_intent.succeeded", intents[paid.ID], paid.ID, 1),
		intentEvent("evt_late_failed", "payment_intent.payment_failed", intents[declined.ID], declined.ID, 1),
	} {
		if w := h.webhook(evt, time.Time{}); w.Status != 200 {
			t.Fatalf("late webhook: %d %s", w.Status, w.Body)
		}
	}
	// And the reconciler looks at the declined payment again (it still waits for a card).
	since := time.Now()
	eventually(t, "the reconciler looked at the declined payment again", func() bool {
		var d struct {
			UpdatedAt time.Time `bson:"updatedAt"`
		}
		err := h.store.Payments().FindOne(ctx, bson.M{"orderId": declined.ID}).Decode(&d)
		return err == nil && d.UpdatedAt.After(since)
	})
	h.settled(paid.ID)
	h.settled(declined.ID)
	check("after the late webhooks and another round")
}

// Charges the processor settles later (processing: 202) whose webhooks never come are settled
// by the reconciler from the intent's id the payment keeps: one that succeeded as
// payment_intent.succeeded would, one that failed as payment_intent.payment_failed would
// (failed, payment.failed); late webhooks change nothing.
func TestReconcilerSettlesProcessingCharges(t *testing.T) {
	h := start(t, func(env map[string]string) {
		env["PAYMENT_RECONCILE_AFTER"], env["PAYMENT_RECONCILE_INTERVAL"] = "300ms", "100ms"
	})
	h.offline.SettleLater(true)
	ctx := context.Background()
	ok, ko := h.order("gail", 2000, 15*time.Minute), h.order("hugo", 2000, 15*time.Minute)
	intents := map[string]string{}
	for _, o := range []order{ok, ko} {
		r := h.pay(o.Token, map[string]any{"orderId": o.ID, "token": "tok_visa"})
		if r.Status != 202 || r.Field("status") != "processing" {
			t.Fatalf("charge settled later: %d %s, want 202 processing", r.Status, r.Body)
		}
		intents[o.ID] = r.Field("stripeId")
		if p, err := h.store.PaymentByOrder(ctx, o.ID); err != nil || p.StripeID != intents[o.ID] {
			t.Fatalf("processing payment %+v, %v: want the intent's id kept", p, err)
		}
	}
	if err := h.offline.Settle(intents[ok.ID], true); err != nil {
		t.Fatal(err)
	}
	if err := h.offline.Settle(intents[ko.ID], false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reconciler settles both charges", func() bool {
		p, err1 := h.store.PaymentByOrder(ctx, ok.ID)
		q, err2 := h.store.PaymentByOrder(ctx, ko.ID)
		return err1 == nil && err2 == nil && p.Status == payment.StatusSucceeded && q.Status == payment.StatusFailed
	})
	for _, evt := range [][]byte{
		intentEvent("evt_late_ok", "payment_intent.succeeded", intents[ok.ID], ok.ID, 1),
		intentEvent("evt_late_ko", "payment_intent.payment_failed", intents[ko.ID], ko.ID, 1),
	} {
		if w := h.webhook(evt, time.Time{}); w.Status != 200 {
			t.Fatalf("late webhook: %d %s", w.Status, w.Body)
		}
	}
	h.settled(ok.ID)
	h.settled(ko.ID)
	p, _ := h.store.PaymentByOrder(ctx, ok.ID)
	if got := messages[events.PaymentCreated](h); len(got) != 1 || got[0] != (events.PaymentCreated{ID: p.ID, OrderID: ok.ID, StripeID: intents[ok.ID]}) {
		t.Errorf("payment.created %+v, want one for %s", got, ok.ID)
	}
	var failed []events.PaymentFailed
	for _, e := range messages[events.PaymentFailed](h) {
		if e.OrderID == ko.ID {
			failed = append(failed, e)
		}
	}
	if q, _ := h.store.PaymentByOrder(ctx, ko.ID); len(failed) != 1 || failed[0].Attempt != 1 || q.Status != payment.StatusFailed {
		t.Errorf("payment.failed %+v, payment %s; want one, failed", failed, q.Status)
	}
	if c, r := h.offline.Charges(), h.offline.Refunds(); c != 1 || r != 0 {
		t.Errorf("%d charges and %d refunds, want 1 and 0", c, r)
	}
}

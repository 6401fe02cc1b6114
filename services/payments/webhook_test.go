package payments_test

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/payments/internal/payment"
	"ticketing/services/payments/internal/provider"
	"ticketing/services/payments/internal/store"
)

// The browser flow end to end: {orderId} alone gives a client secret, Stripe.js confirms,
// and payment_intent.succeeded, delivered three times (once concurrently with the others),
// completes the payment once. Bad signatures and stale timestamps are refused.
func TestWebhookProcessedOnce(t *testing.T) {
	h := start(t, nil)
	ctx := context.Background()
	o := h.order("dave", 2000, 15*time.Minute)

	r := h.pay(o.Token, map[string]any{"orderId": o.ID})
	if r.Status != 201 || r.Field("clientSecret") == "" {
		t.Fatalf("client secret flow: %d %s", r.Status, r.Body)
	}
	intentID := r.Field("stripeId")
	if _, err := h.offline.Confirm(intentID, "pm_card_visa"); err != nil { // what Stripe.js does
		t.Fatal(err)
	}
	evt := intentEvent("evt_succeeded_1", "payment_intent.succeeded", intentID, o.ID, 1)

	// Deliveries: one, then two at once.
	if w := h.webhook(evt, time.Time{}); w.Status != 200 {
		t.Fatalf("delivery 1: %d %s", w.Status, w.Body)
	}
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w := h.webhook(evt, time.Time{}); w.Status != 200 {
				t.Errorf("delivery %d: %d %s", i+2, w.Status, w.Body)
			}
		}()
	}
	wg.Wait()

	p, err := h.store.PaymentByOrder(ctx, o.ID)
	if err != nil || p.Status != payment.StatusSucceeded || p.StripeID != intentID {
		t.Fatalf("payment: %+v %v", p, err)
	}
	h.settled(o.ID)
	if got := messages[events.PaymentCreated](h); len(got) != 1 || got[0] != (events.PaymentCreated{ID: p.ID, OrderID: o.ID, StripeID: intentID}) {
		t.Fatalf("payment.created: %+v", got)
	}
	markers, _ := h.db.Collection(store.WebhookCollection).CountDocuments(ctx, bson.M{"_id": "evt_succeeded_1"})
	if markers != 1 {
		t.Fatalf("%d markers for the event", markers)
	}
	// The client retrying its request sees the payment the webhook completed.
	if again := h.pay(o.Token, map[string]any{"orderId": o.ID}); again.Status != 201 || again.Field("status") != "succeeded" {
		t.Fatalf("after webhook: %d %s", again.Status, again.Body)
	}

	// The event id alone stops a fourth delivery: put the payment back and deliver again;
	// a handled event id changes nothing, a new one would.
	if _, err := h.store.Payments().UpdateOne(ctx, bson.M{"_id": p.ID}, bson.M{"$set": bson.M{"status": "requires_payment_method"}}); err != nil {
		t.Fatal(err)
	}
	if w := h.webhook(evt, time.Time{}); w.Status != 200 {
		t.Fatalf("delivery 4: %d", w.Status)
	}
	if p, _ := h.store.PaymentByOrder(ctx, o.ID); p.Status != payment.StatusRequiresPaymentMethod {
		t.Fatalf("a handled event was processed again: status %s", p.Status)
	}
	if _, err := h.store.Payments().UpdateOne(ctx, bson.M{"_id": p.ID}, bson.M{"$set": bson.M{"status": "succeeded"}}); err != nil {
		t.Fatal(err)
	}

	t.Run("bad signatures answer 400 and change nothing", func(t *testing.T) {
		other := h.order("dave", 2000, 15*time.Minute)
		pr := h.pay(other.Token, map[string]any{"orderId": other.ID})
		good := intentEvent("evt_succeeded_2", "payment_intent.succeeded", pr.Field("stripeId"), other.ID, 1)
		signedFor := func(body []byte, ts time.Time) string { return webhookHeaderWith(body, ts, webhookSecret) }
		cases := map[string]struct {
			body   []byte
			header string
		}{
			"tampered body":   {bytes.Replace(good, []byte(`"amount":2000`), []byte(`"amount":1`), 1), signedFor(good, time.Now())},
			"stale timestamp": {good, signedFor(good, time.Now().Add(-10*time.Minute))},
			"wrong secret":    {good, webhookHeaderWith(good, time.Now(), "whsec_other")},
			"no signature":    {good, ""},
			"garbage header":  {good, "t=abc,v1=zz"},
		}
		for name, c := range cases {
			hdr := http.Header{}
			if c.header != "" {
				hdr.Set("Stripe-Signature", c.header)
			}
			w := h.do("POST", "/api/payments/webhook", "", bytes.NewReader(c.body), hdr)
			if w.Status != 400 || w.Message() == "" {
				t.Errorf("%s: got %d %s", name, w.Status, w.Body)
			}
		}
		p, _ := h.store.PaymentByOrder(ctx, other.ID)
		if p.Status != payment.StatusRequiresPaymentMethod {
			t.Fatalf("a refused webhook changed the payment: %s", p.Status)
		}
		if n, _ := h.db.Collection(store.WebhookCollection).CountDocuments(ctx, bson.M{"_id": "evt_succeeded_2"}); n != 0 {
			t.Fatal("a refused webhook was marked handled")
		}
	})

	t.Run("other event types and foreign intents answer 200 and change nothing", func(t *testing.T) {
		for _, body := range [][]byte{
			[]byte(`{"id":"evt_x","object":"event","api_version":"2023-10-16","type":"customer.created","data":{"object":{"id":"cus_1","object":"customer"}}}`),
			intentEvent("evt_y", "payment_intent.succeeded", "pi_foreign", "", 1),
		} {
			if w := h.webhook(body, time.Time{}); w.Status != 200 {
				t.Fatalf("got %d %s", w.Status, w.Body)
			}
		}
	})

	t.Run("payment_failed keeps a browser intent open and fails a processing charge", func(t *testing.T) {
		o3 := h.order("dave", 2000, 15*time.Minute)
		pr := h.pay(o3.Token, map[string]any{"orderId": o3.ID})
		if w := h.webhook(intentEvent("evt_failed_1", "payment_intent.payment_failed", pr.Field("stripeId"), o3.ID, 1), time.Time{}); w.Status != 200 {
			t.Fatalf("got %d %s", w.Status, w.Body)
		}
		if p, _ := h.store.PaymentByOrder(ctx, o3.ID); p.Status != payment.StatusRequiresPaymentMethod {
			t.Fatalf("browser intent after payment_failed: %s", p.Status)
		}

		// A charge held in flight at the provider; the webhook says it failed.
		o4 := h.order("dave", 2000, 15*time.Minute)
		hold, entered := make(chan struct{}), make(chan struct{})
		h.offline.BeforeCharge(func(req provider.ChargeRequest) {
			if req.OrderID == o4.ID {
				close(entered)
				<-hold
			}
		})
		t.Cleanup(func() { h.offline.BeforeCharge(nil) })
		done := make(chan testkit.Reply, 1)
		go func() {
			done <- h.pay(o4.Token, map[string]any{"orderId": o4.ID, "paymentMethodId": "pm_card_chargeDeclinedInsufficientFunds"})
		}()
		<-entered
		if w := h.webhook(intentEvent("evt_failed_2", "payment_intent.payment_failed", "pi_whatever", o4.ID, 1), time.Time{}); w.Status != 200 {
			t.Fatalf("got %d %s", w.Status, w.Body)
		}
		p, _ := h.store.PaymentByOrder(ctx, o4.ID)
		if p.Status != payment.StatusFailed || p.Failure != "Your card has insufficient funds." {
			t.Fatalf("processing charge after payment_failed: %+v", p)
		}
		close(hold)
		if r := <-done; r.Status != 402 || r.Message() != "Your card has insufficient funds." {
			t.Fatalf("held charge: %d %s", r.Status, r.Body)
		}
	})
}

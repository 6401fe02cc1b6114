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

// The order replica follows the orders events in version order whatever order they arrive
// in, and acknowledges duplicates.
func TestOrderReplica(t *testing.T) {
	h := start(t, nil)
	ctx := context.Background()
	id := bson.NewObjectID().Hex()
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)

	// Cancellation first: it waits for its predecessor.
	h.publish(events.OrderCancelled{ID: id, Version: 1, Ticket: events.TicketRef{ID: "t1"}})
	h.publish(events.OrderCreated{ID: id, Version: 0, Status: "created", UserID: "u1", ExpiresAt: exp,
		Ticket: events.TicketRef{ID: "t1", PriceCents: 1234}})
	h.publish(events.OrderCreated{ID: id, Version: 0, Status: "created", UserID: "u1", ExpiresAt: exp,
		Ticket: events.TicketRef{ID: "t1", PriceCents: 1234}}) // duplicate
	h.waitOrder(id, 1)
	got, err := h.store.Order(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := payment.Order{ID: id, UserID: "u1", PriceCents: 1234, Status: events.OrderStatusCancelled, Version: 1, ExpiresAt: exp, TicketID: "t1"}
	if got != want {
		t.Fatalf("replica %+v, want %+v", got, want)
	}

	// A completed order, then a stale cancellation of an older version: acknowledged, ignored.
	id2 := bson.NewObjectID().Hex()
	h.publish(events.OrderCreated{ID: id2, Version: 0, Status: "created", UserID: "u1", ExpiresAt: exp,
		Ticket: events.TicketRef{ID: "t2", PriceCents: 500}})
	h.publish(events.OrderCompleted{ID: id2, Version: 1, Ticket: events.TicketRef{ID: "t2"}})
	h.waitOrder(id2, 1)
	h.publish(events.OrderCancelled{ID: id2, Version: 1, Ticket: events.TicketRef{ID: "t2"}})
	eventually(t, "events handled", func() bool {
		return h.consumerDone(events.SubjectOrderCancelled) && h.consumerDone(events.SubjectOrderCreated) && h.consumerDone(events.SubjectOrderCompleted)
	})
	if o, _ := h.store.Order(ctx, id2); o.Status != events.OrderStatusComplete || o.Version != 1 {
		t.Fatalf("completed order became %+v", o)
	}
}

// A client that pays right after ordering, before order.created reached the replica, is
// answered once the order arrives rather than 404; an id that is not a recent order's is 404
// at once.
func TestPayBeforeReplicaCaughtUp(t *testing.T) {
	h := start(t, nil)
	id := bson.NewObjectID().Hex()
	tok := testkit.Token(t, "judy", "judy@example.com")
	done := make(chan testkit.Reply, 1)
	go func() { done <- h.pay(tok, map[string]any{"orderId": id, "token": "tok_visa"}) }()
	time.Sleep(300 * time.Millisecond) // not a wait for anything: it makes the order event late
	h.publish(events.OrderCreated{ID: id, Version: 0, Status: "created", UserID: "judy",
		ExpiresAt: time.Now().Add(time.Hour).UTC(), Ticket: events.TicketRef{ID: "t", PriceCents: 700}})
	if r := <-done; r.Status != 201 || r.Field("status") != "succeeded" {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
	began := time.Now()
	if r := h.pay(tok, map[string]any{"orderId": "65f000000000000000000000", "token": "tok_visa"}); r.Status != 404 {
		t.Fatalf("old id: %d %s", r.Status, r.Body)
	}
	if d := time.Since(began); d > time.Second {
		t.Fatalf("an old id waited %s", d)
	}
}

// Late success: the payment succeeded, then order.cancelled arrives (the hold expired while
// the card was charged): exactly one refund at the provider and one payment.refunded, even
// when order.cancelled is delivered again.
func TestLateSuccessRefund(t *testing.T) {
	h := start(t, nil)
	o := h.order("frank", 3100, 15*time.Minute)
	r := h.pay(o.Token, map[string]any{"orderId": o.ID, "paymentMethodId": "pm_card_visa"})
	if r.Status != 201 {
		t.Fatalf("pay: %d %s", r.Status, r.Body)
	}
	h.cancel(o, 1)
	h.cancel(o, 1) // redelivered (another message id: JetStream keeps both)
	h.waitStatus(t, o.ID, payment.StatusRefunded, "payment refunded")
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
	h.succeeded(t, "evt_late", r.Field("stripeId"), o.ID)
	h.waitStatus(t, o.ID, payment.StatusRefunded, "refunded by the sweeper")
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

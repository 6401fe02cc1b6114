package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/payments/internal/payment"
	"ticketing/services/payments/internal/store"
)

func newStore(t *testing.T) (*store.Store, context.Context) {
	t.Helper()
	ctx := context.Background()
	s := store.New(testkit.Mongo(t))
	if err := s.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	return s, ctx
}

// The replica applies versions in order: a duplicate is reported as such, a version whose
// predecessor is missing as too early.
func TestOrderReplicaVersions(t *testing.T) {
	s, ctx := newStore(t)
	exp := time.Now().Add(15 * time.Minute).UTC().Truncate(time.Millisecond)
	o := payment.Order{ID: "o1", UserID: "u1", PriceCents: 2000, Status: payment.OrderCreated, ExpiresAt: exp, TicketID: "t1"}

	if a, err := s.SetOrderStatus(ctx, "o1", 1, payment.OrderCancelled); err != nil || a != store.TooEarly {
		t.Fatalf("cancel before create: %v %v", a, err)
	}
	if a, err := s.InsertOrder(ctx, o); err != nil || a != store.Done {
		t.Fatalf("insert: %v %v", a, err)
	}
	if a, err := s.InsertOrder(ctx, o); err != nil || a != store.Duplicate {
		t.Fatalf("insert again: %v %v", a, err)
	}
	if a, err := s.SetOrderStatus(ctx, "o1", 2, payment.OrderComplete); err != nil || a != store.TooEarly {
		t.Fatalf("v2 before v1: %v %v", a, err)
	}
	if a, err := s.SetOrderStatus(ctx, "o1", 1, payment.OrderCancelled); err != nil || a != store.Done {
		t.Fatalf("v1: %v %v", a, err)
	}
	if a, err := s.SetOrderStatus(ctx, "o1", 1, payment.OrderCancelled); err != nil || a != store.Duplicate {
		t.Fatalf("v1 again: %v %v", a, err)
	}
	got, err := s.Order(ctx, "o1")
	if err != nil {
		t.Fatal(err)
	}
	want := o
	want.Status, want.Version = payment.OrderCancelled, 1
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, err := s.Order(ctx, "nope"); err != store.ErrNotFound {
		t.Fatalf("missing order: %v", err)
	}
}

func envelope(t *testing.T, id string) bus.Envelope {
	env, err := bus.NewEnvelopeWithID(context.Background(), id, events.PaymentCreated{ID: "p", OrderID: "o", StripeID: "pi"})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func outboxLen(t *testing.T, s *store.Store, id string) int {
	var d struct {
		Outbox []bus.Envelope `bson:"outbox"`
	}
	if err := s.Payments().FindOne(context.Background(), bson.M{"_id": id}).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return len(d.Outbox)
}

// One payment per order whatever the number of concurrent starts; the transitions match
// only from the expected attempt and status, so each event is pushed once.
func TestPaymentTransitions(t *testing.T) {
	s, ctx := newStore(t)
	start := func() (payment.Payment, bool) {
		p, created, err := s.StartPayment(ctx, payment.Payment{ID: store.NewPaymentID(), OrderID: "o1", UserID: "u1",
			Status: payment.StatusProcessing, Attempt: 1, AmountCents: 2000, Currency: "usd"})
		if err != nil {
			t.Error(err)
		}
		return p, created
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]int{}
	createdCount := 0
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, created := start()
			mu.Lock()
			ids[p.ID]++
			if created {
				createdCount++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(ids) != 1 || createdCount != 1 {
		t.Fatalf("ids %v, created %d", ids, createdCount)
	}
	p, _ := start()

	// Attempt 1 declined; a second Fail does not match.
	if _, ok, err := s.Fail(ctx, p.ID, 1, "pi_1", "Your card was declined."); err != nil || !ok {
		t.Fatalf("fail: %v %v", ok, err)
	}
	if _, ok, _ := s.Fail(ctx, p.ID, 1, "pi_1", "again"); ok {
		t.Fatal("fail matched twice")
	}
	// Only one of two racing retries starts attempt 2.
	var wins int
	for range 2 {
		if _, ok, err := s.NextAttempt(ctx, p.ID, 1, payment.StatusFailed); err != nil {
			t.Fatal(err)
		} else if ok {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("next attempt won %d times", wins)
	}
	// A success for the stale attempt does not match; for the current one it does, once.
	if _, ok, _ := s.Succeed(ctx, p.ID, 1, "pi_1", envelope(t, "e0")); ok {
		t.Fatal("stale attempt succeeded")
	}
	got, ok, err := s.Succeed(ctx, p.ID, 2, "pi_2", envelope(t, "e1"))
	if err != nil || !ok || got.Status != payment.StatusSucceeded || got.StripeID != "pi_2" || got.Attempt != 2 {
		t.Fatalf("succeed: %+v %v %v", got, ok, err)
	}
	if _, ok, _ := s.Succeed(ctx, p.ID, 2, "pi_2", envelope(t, "e2")); ok {
		t.Fatal("succeeded twice")
	}
	if n := outboxLen(t, s, p.ID); n != 1 {
		t.Fatalf("outbox has %d events, want 1", n)
	}
	if _, ok, _ := s.Refunded(ctx, p.ID, envelope(t, "e3")); !ok {
		t.Fatal("refund did not match")
	}
	if _, ok, _ := s.Refunded(ctx, p.ID, envelope(t, "e4")); ok {
		t.Fatal("refunded twice")
	}
	if n := outboxLen(t, s, p.ID); n != 2 {
		t.Fatalf("outbox has %d events, want 2", n)
	}
	byOrder, err := s.PaymentByOrder(ctx, "o1")
	if err != nil || byOrder.Status != payment.StatusRefunded {
		t.Fatalf("by order: %+v %v", byOrder, err)
	}

	// The browser flow: processing -> requires_payment_method once.
	q, _, _ := s.StartPayment(ctx, payment.Payment{ID: store.NewPaymentID(), OrderID: "o2", UserID: "u1",
		Status: payment.StatusProcessing, Attempt: 1, AmountCents: 100, Currency: "usd"})
	if _, ok, _ := s.AwaitClient(ctx, q.ID, 1, "pi_q"); !ok {
		t.Fatal("await client")
	}
	if _, ok, _ := s.AwaitClient(ctx, q.ID, 1, "pi_q"); ok {
		t.Fatal("await client twice")
	}
	if _, ok, _ := s.Succeed(ctx, q.ID, 1, "pi_q", envelope(t, "e5")); !ok {
		t.Fatal("succeed from requires_payment_method")
	}
}

func TestWebhookMarkers(t *testing.T) {
	s, ctx := newStore(t)
	if seen, err := s.WebhookSeen(ctx, "evt_1"); err != nil || seen {
		t.Fatalf("seen %v %v", seen, err)
	}
	if first, err := s.MarkWebhook(ctx, "evt_1", "payment_intent.succeeded"); err != nil || !first {
		t.Fatalf("mark %v %v", first, err)
	}
	if first, err := s.MarkWebhook(ctx, "evt_1", "payment_intent.succeeded"); err != nil || first {
		t.Fatalf("mark again %v %v", first, err)
	}
	if seen, err := s.WebhookSeen(ctx, "evt_1"); err != nil || !seen {
		t.Fatalf("seen %v %v", seen, err)
	}
}

// Every query the store makes is answered from an index (checked on MongoDB and on the
// stand-in's PostgreSQL backend; `make test` runs the store's tests on both stand-in backends).
func TestEveryQueryUsesAnIndex(t *testing.T) {
	db, queries := testkit.MongoRecording(t)
	s := store.New(db)
	ctx := t.Context()
	if err := s.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Minute).UTC()
	o := payment.Order{ID: "o1", UserID: "u1", PriceCents: 2000, Status: payment.OrderCreated, ExpiresAt: exp, TicketID: "t1"}
	var steps []error
	add := func(err error) { steps = append(steps, err) }
	_, err := s.InsertOrder(ctx, o)
	add(err)
	_, err = s.SetOrderStatus(ctx, "o1", 1, payment.OrderCancelled)
	add(err)
	_, err = s.Order(ctx, "o1")
	add(err)
	p, _, err := s.StartPayment(ctx, payment.Payment{ID: store.NewPaymentID(), OrderID: "o1", UserID: "u1",
		Status: payment.StatusProcessing, Attempt: 1, AmountCents: 2000, Currency: "usd"})
	add(err)
	_, _, err = s.StartPayment(ctx, payment.Payment{ID: store.NewPaymentID(), OrderID: "o1", UserID: "u1",
		Status: payment.StatusProcessing, Attempt: 1, AmountCents: 2000, Currency: "usd"})
	add(err) // the order's payment already exists: read by orderId
	_, err = s.PaymentByOrder(ctx, "o1")
	add(err)
	_, err = s.Payment(ctx, p.ID)
	add(err)
	_, _, err = s.Fail(ctx, p.ID, 1, "pi_1", "declined")
	add(err)
	_, _, err = s.NextAttempt(ctx, p.ID, 1, payment.StatusFailed)
	add(err)
	_, _, err = s.Succeed(ctx, p.ID, 2, "pi_2", bus.Envelope{ID: "e1", Subject: "payment.created", Schema: 1, Data: []byte("{}")})
	add(err)
	add(s.FlagOrderCancelled(ctx, "o1"))
	_, err = s.RefundsDue(ctx, 10)
	add(err)
	_, err = s.MarkWebhook(ctx, "evt_1", "payment_intent.succeeded")
	add(err)
	_, err = s.WebhookSeen(ctx, "evt_1")
	add(err)
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}
	queries.RequireIndexed(t, db)
}

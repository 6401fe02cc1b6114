package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/payments/internal/payment"
	"ticketing/services/payments/internal/store"
)

// newStore is a store on a fresh database with its indexes ensured (twice, as a restart or a
// second replica does).
func newStore(t *testing.T) (*store.Store, context.Context) {
	t.Helper()
	return testkit.Indexed(t, func(db *mongo.Database) *store.Store { return store.New(db, nil) }), context.Background()
}

// The replica applies versions in order: a duplicate is reported as such, a version whose
// predecessor is missing as too early.
func TestOrderReplicaVersions(t *testing.T) {
	s, ctx := newStore(t)
	exp := time.Now().Add(15 * time.Minute).UTC().Truncate(time.Millisecond)
	o := payment.Order{ID: "o1", UserID: "u1", PriceCents: 2000, Status: events.OrderStatusCreated, ExpiresAt: exp, TicketID: "t1"}

	if a, err := s.SetOrderStatus(ctx, "o1", 1, events.OrderStatusCancelled); err != nil || a != bus.NotYet {
		t.Fatalf("cancel before create: %v %v", a, err)
	}
	if a, err := s.InsertOrder(ctx, o); err != nil || a != bus.Applied {
		t.Fatalf("insert: %v %v", a, err)
	}
	if a, err := s.InsertOrder(ctx, o); err != nil || a != bus.Duplicate {
		t.Fatalf("insert again: %v %v", a, err)
	}
	if a, err := s.SetOrderStatus(ctx, "o1", 2, events.OrderStatusComplete); err != nil || a != bus.NotYet {
		t.Fatalf("v2 before v1: %v %v", a, err)
	}
	if a, err := s.SetOrderStatus(ctx, "o1", 1, events.OrderStatusCancelled); err != nil || a != bus.Applied {
		t.Fatalf("v1: %v %v", a, err)
	}
	if a, err := s.SetOrderStatus(ctx, "o1", 1, events.OrderStatusCancelled); err != nil || a != bus.Duplicate {
		t.Fatalf("v1 again: %v %v", a, err)
	}
	got, err := s.Order(ctx, "o1")
	if err != nil {
		t.Fatal(err)
	}
	want := o
	want.Status, want.Version = events.OrderStatusCancelled, 1
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, err := s.Order(ctx, "nope"); !errors.Is(err, payment.ErrOrderNotFound) {
		t.Fatalf("missing order: %v", err)
	}
}

// apply runs a domain transition through UpdatePayment and reports whether it applied.
func apply(t *testing.T, s *store.Store, id string, change func(payment.Payment) (payment.Payment, error)) (payment.Payment, bool) {
	t.Helper()
	p, err := s.UpdatePayment(context.Background(), id, change)
	if err != nil && !payment.Refused(err) {
		t.Fatal(err)
	}
	return p, err == nil
}

// outbox is the subjects and ids of the events in a payment's outbox.
func outbox(t *testing.T, s *store.Store, id string) []string {
	var out []string
	for _, e := range testkit.Outbox(t, s.Payments(), id) {
		out = append(out, e.Subject+" "+e.ID)
	}
	return out
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

	// Attempt 1 declined; a second Fail does not apply.
	if _, ok := apply(t, s, p.ID, func(p payment.Payment) (payment.Payment, error) { return p.Fail(1, "pi_1", "Your card was declined.") }); !ok {
		t.Fatal("fail did not apply")
	}
	if _, ok := apply(t, s, p.ID, func(p payment.Payment) (payment.Payment, error) { return p.Fail(1, "pi_1", "again") }); ok {
		t.Fatal("fail applied twice")
	}
	// Only one of racing retries starts attempt 2.
	var wins atomic.Int32
	var race sync.WaitGroup
	for range 4 {
		race.Go(func() {
			if _, ok := apply(t, s, p.ID, func(p payment.Payment) (payment.Payment, error) { return p.Retry(1) }); ok {
				wins.Add(1)
			}
		})
	}
	race.Wait()
	if wins.Load() != 1 {
		t.Fatalf("next attempt won %d times", wins.Load())
	}
	// A success for the stale attempt does not apply; for the current one it does, once.
	if _, ok := apply(t, s, p.ID, func(p payment.Payment) (payment.Payment, error) { return p.Succeed(1, "pi_1") }); ok {
		t.Fatal("stale attempt succeeded")
	}
	got, ok := apply(t, s, p.ID, func(p payment.Payment) (payment.Payment, error) { return p.Succeed(2, "pi_2") })
	if !ok || got.Status != payment.StatusSucceeded || got.StripeID != "pi_2" || got.Attempt != 2 {
		t.Fatalf("succeed: %+v %v", got, ok)
	}
	if _, ok := apply(t, s, p.ID, func(p payment.Payment) (payment.Payment, error) { return p.Succeed(2, "pi_2") }); ok {
		t.Fatal("succeeded twice")
	}
	// Each attempt's start and end is announced once: payment.started and payment.failed of
	// attempt 1, payment.started of attempt 2, then payment.created.
	want := []string{"payment.started payment-started-" + p.ID + "-1", "payment.failed payment-failed-" + p.ID + "-1",
		"payment.started payment-started-" + p.ID + "-2", "payment.created payment-created-" + p.ID}
	if got := outbox(t, s, p.ID); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("outbox %v, want %v", got, want)
	}
	if _, ok := apply(t, s, p.ID, payment.Payment.Refund); !ok {
		t.Fatal("refund did not apply")
	}
	if _, ok := apply(t, s, p.ID, payment.Payment.Refund); ok {
		t.Fatal("refunded twice")
	}
	if got := outbox(t, s, p.ID); len(got) != 5 || got[4] != "payment.refunded payment-refunded-"+p.ID {
		t.Fatalf("outbox %v, want the payment.refunded last", got)
	}
	byOrder, err := s.PaymentByOrder(ctx, "o1")
	if err != nil || byOrder.Status != payment.StatusRefunded {
		t.Fatalf("by order: %+v %v", byOrder, err)
	}

	// The browser flow: processing -> requires_payment_method once.
	q, _, _ := s.StartPayment(ctx, payment.Payment{ID: store.NewPaymentID(), OrderID: "o2", UserID: "u1",
		Status: payment.StatusProcessing, Attempt: 1, AmountCents: 100, Currency: "usd"})
	await := func(p payment.Payment) (payment.Payment, error) { return p.AwaitClient(1, "pi_q") }
	if _, ok := apply(t, s, q.ID, await); !ok {
		t.Fatal("await client")
	}
	if _, ok := apply(t, s, q.ID, await); ok {
		t.Fatal("await client twice")
	}
	if _, ok := apply(t, s, q.ID, func(p payment.Payment) (payment.Payment, error) { return p.Succeed(1, "pi_q") }); !ok {
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
	testkit.EveryQueryIndexed(t, func(db *mongo.Database) *store.Store { return store.New(db, nil) }, func(ctx context.Context, s *store.Store) {
		exp := time.Now().Add(time.Minute).UTC()
		o := payment.Order{ID: "o1", UserID: "u1", PriceCents: 2000, Status: events.OrderStatusCreated, ExpiresAt: exp, TicketID: "t1"}
		var steps []error
		add := func(err error) { steps = append(steps, err) }
		_, err := s.InsertOrder(ctx, o)
		add(err)
		_, err = s.SetOrderStatus(ctx, "o1", 1, events.OrderStatusCancelled)
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
		_, err = s.UpdatePayment(ctx, p.ID, func(p payment.Payment) (payment.Payment, error) { return p.Fail(1, "pi_1", "declined") })
		add(err)
		_, err = s.UpdatePayment(ctx, p.ID, func(p payment.Payment) (payment.Payment, error) { return p.Retry(1) })
		add(err)
		_, err = s.UpdatePayment(ctx, p.ID, func(p payment.Payment) (payment.Payment, error) { return p.Succeed(2, "pi_2") })
		add(err)
		for order, want := range map[string]bool{"o1": true, "o-unpaid": false} {
			paid, err := s.FlagOrderCancelled(ctx, order)
			add(err)
			if paid != want {
				t.Errorf("FlagOrderCancelled(%s) says paid %t, want %t", order, paid, want)
			}
		}
		_, err = s.RefundsDue(ctx, 10)
		add(err)
		_, err = s.Unsettled(ctx, time.Now(), time.Now().Add(-24*time.Hour), 10)
		add(err)
		add(s.Touch(ctx, p))
		_, err = s.MarkWebhook(ctx, "evt_1", "payment_intent.succeeded")
		add(err)
		_, err = s.WebhookSeen(ctx, "evt_1")
		add(err)
		if err := errors.Join(steps...); err != nil {
			t.Fatal(err)
		}
	})
}

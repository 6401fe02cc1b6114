package app_test

import (
	"errors"
	"testing"
	"time"

	"ticketing/common/events"
	"ticketing/services/orders/internal/order"
)

func (f *fixture) now() time.Time {
	return time.Unix(0, f.clock.Load()).UTC().Truncate(time.Millisecond)
}

func (f *fixture) causes(id string) []order.Cause {
	f.t.Helper()
	var out []order.Cause
	for _, c := range f.order(id).History {
		out = append(out, c.Cause)
	}
	return out
}

func (f *fixture) wantCauses(id string, want ...order.Cause) {
	f.t.Helper()
	got := f.causes(id)
	if len(got) != len(want) {
		f.t.Fatalf("history of %s = %v, want %v", id, got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			f.t.Fatalf("history of %s = %v, want %v", id, got, want)
		}
	}
}

// A payment that starts one second before expiresAt and succeeds 30 s after it completes
// the order: the order waits for it until start + PAYMENT_GRACE, the hold with it, and the
// expiry of the original deadline is dropped.
func TestPaymentStartedBeforeTheDeadlineCompletesAfterIt(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	o := f.create("u1", "t1")
	f.advance(window - time.Second)
	start := f.now()
	if err := f.svc.StartPayment(f.ctx, o.ID, 1); err != nil {
		t.Fatal(err)
	}
	a := f.order(o.ID)
	if a.Status != events.OrderStatusAwaitingPayment || !a.ExpiresAt.Equal(start.Add(paymentGrace)) || a.Version != 1 {
		t.Fatalf("after the start: %s v%d until %v, want awaiting:payment v1 until %v", a.Status, a.Version, a.ExpiresAt, start.Add(paymentGrace))
	}
	if r := f.replica("t1"); !r.Hold.Until.Equal(a.ExpiresAt.Add(grace)) {
		t.Errorf("hold until %v, want the new deadline plus the grace %v", r.Hold.Until, a.ExpiresAt.Add(grace))
	}
	f.wantOutbox(o.ID, events.SubjectOrderCreated, events.SubjectOrderUpdated)
	// A redelivered start changes nothing.
	if err := f.svc.StartPayment(f.ctx, o.ID, 1); err != nil || f.order(o.ID).Version != 1 {
		t.Fatalf("redelivered start: v%d, %v", f.order(o.ID).Version, err)
	}

	f.advance(31 * time.Second) // 30 s after the original deadline
	// The job of the original deadline fires: stale, dropped. Without a deadline it waits.
	if err := f.svc.ExpireJob(f.ctx, o.ID, o.ExpiresAt); err != nil {
		t.Fatalf("stale expiry: %v", err)
	}
	if err := f.svc.Expire(f.ctx, o.ID); !errors.Is(err, order.ErrTooEarly) {
		t.Fatalf("expiry before the new deadline: %v, want ErrTooEarly", err)
	}
	// The sweeper follows the new deadline.
	if n, err := f.svc.Sweep(f.ctx, 0, 10); n != 0 || err != nil {
		t.Fatalf("sweep = %d, %v; want nothing overdue", n, err)
	}
	if err := f.svc.Pay(f.ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	done := f.order(o.ID)
	if done.Status != events.OrderStatusComplete || !f.replica("t1").Hold.IsPermanent() {
		t.Fatalf("after the payment: %s, hold %+v", done.Status, f.replica("t1").Hold)
	}
	f.wantCauses(o.ID, order.CauseCreated, order.CausePaymentStarted, order.CausePaid)
	// A late start changes nothing either.
	if err := f.svc.StartPayment(f.ctx, o.ID, 2); err != nil || f.order(o.ID).Status != events.OrderStatusComplete {
		t.Fatalf("start of a paid order: %v", err)
	}
}

// A payment that succeeds after the extended deadline finds the order expired (payments
// refunds it); the refund is added to the history, once.
func TestPaymentAfterTheExtendedDeadlineFindsTheOrderExpired(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	o := f.create("u1", "t1")
	f.advance(window - time.Second)
	if err := f.svc.StartPayment(f.ctx, o.ID, 1); err != nil {
		t.Fatal(err)
	}
	extended := f.order(o.ID).ExpiresAt
	f.advance(paymentGrace + time.Second)
	// The sweeper (or the job of the new deadline) expires it.
	if n, err := f.svc.Sweep(f.ctx, 0, 10); n != 1 || err != nil {
		t.Fatalf("sweep = %d, %v; want the order expired", n, err)
	}
	if err := f.svc.ExpireJob(f.ctx, o.ID, extended); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Pay(f.ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.order(o.ID); got.Status != events.OrderStatusCancelled {
		t.Fatalf("status %s, want cancelled", got.Status)
	}
	if r := f.replica("t1"); r.Hold.OrderID != "" {
		t.Errorf("hold %+v, want released", r.Hold)
	}
	for range 2 {
		if err := f.svc.Refunded(f.ctx, o.ID); err != nil {
			t.Fatal(err)
		}
	}
	f.wantCauses(o.ID, order.CauseCreated, order.CausePaymentStarted, order.CauseExpired, order.CauseRefunded)
	if h := f.order(o.ID).History; h[3].Status != events.OrderStatusCancelled {
		t.Errorf("refund entry %+v, want the order's status cancelled", h[3])
	}
}

// A failed payment returns the order to created with its original deadline; a second attempt
// gets the deadline of the first extension, not a new one; a failure after the original
// deadline expires the order.
func TestFailedPaymentReturnsTheOrderToCreated(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	o := f.create("u1", "t1")
	// A failure whose start is not applied yet waits for it.
	if err := f.svc.FailPayment(f.ctx, o.ID, 1); !errors.Is(err, order.ErrAttemptNotStarted) {
		t.Fatalf("failure before its start: %v, want ErrAttemptNotStarted", err)
	}
	f.advance(window - 2*time.Second)
	if err := f.svc.StartPayment(f.ctx, o.ID, 1); err != nil {
		t.Fatal(err)
	}
	extended := f.order(o.ID).ExpiresAt
	f.advance(time.Second)
	if err := f.svc.FailPayment(f.ctx, o.ID, 1); err != nil {
		t.Fatal(err)
	}
	c := f.order(o.ID)
	if c.Status != events.OrderStatusCreated || !c.ExpiresAt.Equal(o.ExpiresAt) || c.Version != 2 {
		t.Fatalf("after the failure: %s v%d until %v, want created v2 until %v", c.Status, c.Version, c.ExpiresAt, o.ExpiresAt)
	}
	f.wantOutbox(o.ID, events.SubjectOrderCreated, events.SubjectOrderUpdated, events.SubjectOrderUpdated)
	if err := f.svc.FailPayment(f.ctx, o.ID, 1); err != nil || f.order(o.ID).Version != 2 {
		t.Fatalf("redelivered failure: %v", err)
	}
	// The second attempt is not extended again.
	f.advance(500 * time.Millisecond)
	if err := f.svc.StartPayment(f.ctx, o.ID, 2); err != nil {
		t.Fatal(err)
	}
	if got := f.order(o.ID); got.Status != events.OrderStatusAwaitingPayment || !got.ExpiresAt.Equal(extended) {
		t.Fatalf("second attempt: %s until %v, want awaiting:payment until %v", got.Status, got.ExpiresAt, extended)
	}
	// It fails after the original deadline: the order expires and frees its ticket.
	f.advance(time.Second)
	if err := f.svc.FailPayment(f.ctx, o.ID, 2); err != nil {
		t.Fatal(err)
	}
	if got := f.order(o.ID); got.Status != events.OrderStatusCancelled {
		t.Fatalf("late failure: %s, want cancelled", got.Status)
	}
	if r := f.replica("t1"); r.Hold.OrderID != "" {
		t.Errorf("hold %+v, want released", r.Hold)
	}
	f.wantCauses(o.ID, order.CauseCreated, order.CausePaymentStarted, order.CausePaymentFailed, order.CausePaymentStarted, order.CauseExpired)
}

// A payment that starts for an order whose hold lapsed and was taken by another order
// cancels it: the ticket is never held by two live orders.
func TestPaymentStartAfterTheHoldWasLost(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	o := f.create("u1", "t1")
	f.advance(window + grace + time.Second) // the hold lapsed; the expiry was lost
	other := f.create("u2", "t1")
	if err := f.svc.StartPayment(f.ctx, o.ID, 1); err != nil {
		t.Fatal(err)
	}
	if got := f.order(o.ID); got.Status != events.OrderStatusCancelled {
		t.Fatalf("status %s, want cancelled", got.Status)
	}
	if r := f.replica("t1"); r.Hold.OrderID != other.ID {
		t.Errorf("hold %+v, want the other order's", r.Hold)
	}
}

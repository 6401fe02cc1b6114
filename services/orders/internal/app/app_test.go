package app_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/orders/internal/app"
	"ticketing/services/orders/internal/order"
	"ticketing/services/orders/internal/store"
)

const (
	window       = 15 * time.Minute
	grace        = time.Minute
	paymentGrace = 5 * time.Minute
)

// fixture is a booking service over a fresh database, with a clock the test moves.
type fixture struct {
	t        *testing.T
	ctx      context.Context
	db       *mongo.Database
	st       *store.Store
	svc      *app.Service
	clock    atomic.Int64 // unix nanoseconds
	notified sync.Map     // order id -> true
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, ctx: t.Context(), db: testkit.Mongo(t)}
	f.clock.Store(time.Now().UnixNano())
	f.st = store.New(f.db, notifyFunc(func(id string, envs ...bus.Envelope) {
		if len(envs) == 0 {
			t.Errorf("order %s: notified without its events", id)
		}
		f.notified.Store(id, true)
	}))
	f.svc = app.New(f.st, app.Options{
		Window: window, HoldGrace: grace, PaymentGrace: paymentGrace,
		Now: func() time.Time { return time.Unix(0, f.clock.Load()) },
	})
	return f
}

// notifyFunc is a relay that only records what it is told.
type notifyFunc func(id string, envs ...bus.Envelope)

func (n notifyFunc) Notify(id string, envs ...bus.Envelope) { n(id, envs...) }

func (f *fixture) advance(d time.Duration) { f.clock.Add(int64(d)) }

func (f *fixture) ticket(id string) {
	f.t.Helper()
	if _, err := f.st.InsertTicket(f.ctx, order.Ticket{ID: id, Title: "T " + id, PriceCents: 1999}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) create(user, ticket string) order.Order {
	f.t.Helper()
	o, err := f.svc.Create(f.ctx, user, ticket, "")
	if err != nil {
		f.t.Fatalf("Create(%s, %s): %v", user, ticket, err)
	}
	return o
}

func (f *fixture) order(id string) order.Order {
	f.t.Helper()
	return read(f, f.st.Order, id)
}

func (f *fixture) replica(id string) store.Replica {
	f.t.Helper()
	return read(f, f.st.Replica, id)
}

// read is what get finds for id; an error fails the test.
func read[T any](f *fixture, get func(context.Context, string) (T, error), id string) T {
	f.t.Helper()
	v, err := get(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

// outbox is the subjects of the events waiting in an order's outbox (no relay runs here).
func (f *fixture) outbox(id string) []string {
	f.t.Helper()
	var out []string
	for _, e := range testkit.Outbox(f.t, f.st.Orders(), id) {
		out = append(out, e.Subject)
	}
	return out
}

func (f *fixture) wantOutbox(id string, subjects ...string) {
	f.t.Helper()
	if got := f.outbox(id); fmt.Sprint(got) != fmt.Sprint(subjects) {
		f.t.Errorf("outbox of %s = %v, want %v", id, got, subjects)
	}
}

func TestCreateHoldsTheTicket(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	o := f.create("u1", "t1")
	now := time.Unix(0, f.clock.Load()).UTC().Truncate(time.Millisecond)
	if o.Status != events.OrderStatusCreated || !o.ExpiresAt.Equal(now.Add(window)) || o.Ticket.PriceCents != 1999 {
		t.Errorf("order = %+v", o)
	}
	if got := f.order(o.ID); !reflect.DeepEqual(got, o) {
		t.Errorf("stored %+v, returned %+v", got, o)
	}
	r := f.replica("t1")
	if r.Hold.OrderID != o.ID || !r.Hold.Until.Equal(o.ExpiresAt.Add(grace)) {
		t.Errorf("replica = %+v, want held by %s until expiresAt+grace", r, o.ID)
	}
	f.wantOutbox(o.ID, "order.created")
	if _, ok := f.notified.Load(o.ID); !ok {
		t.Error("the relay was not notified")
	}
	if _, err := f.svc.Create(f.ctx, "u2", "t1", ""); !errors.Is(err, order.ErrTicketReserved) {
		t.Errorf("second order: %v, want ErrTicketReserved", err)
	}
	if _, err := f.svc.Create(f.ctx, "u2", "nope", ""); !errors.Is(err, order.ErrTicketNotFound) {
		t.Errorf("unknown ticket: %v, want ErrTicketNotFound", err)
	}
}

func TestCreateReleasesTheHoldWhenTheOrderCannotBeStored(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	// A unique index the second order of a ticket breaks makes its insert fail after its
	// hold was taken.
	if _, err := f.st.Orders().Indexes().CreateOne(f.ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "ticket.id", Value: 1}}, Options: options.Index().SetUnique(true),
	}); err != nil {
		t.Fatal(err)
	}
	a := f.create("u1", "t1")
	if err := f.svc.Cancel(f.ctx, "u1", a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Create(f.ctx, "u2", "t1", ""); err == nil || errors.Is(err, order.ErrTicketReserved) {
		t.Fatalf("Create with a failing insert: %v, want a fault", err)
	}
	if r := f.replica("t1"); r.Hold.OrderID != "" {
		t.Errorf("the failed order still holds the ticket: %+v", r)
	}
}

func TestCancel(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	o := f.create("u1", "t1")
	if err := f.svc.Cancel(f.ctx, "u2", o.ID); !errors.Is(err, order.ErrForbidden) {
		t.Errorf("cancel by another user: %v, want ErrForbidden", err)
	}
	if err := f.svc.Cancel(f.ctx, "u1", "nope"); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("cancel of an unknown order: %v, want ErrNotFound", err)
	}
	if err := f.svc.Cancel(f.ctx, "u1", o.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.order(o.ID); got.Status != events.OrderStatusCancelled || got.Version != 1 {
		t.Errorf("order = %s v%d, want cancelled v1", got.Status, got.Version)
	}
	if r := f.replica("t1"); r.Hold.OrderID != "" {
		t.Errorf("hold not released: %+v", r)
	}
	if err := f.svc.Cancel(f.ctx, "u1", o.ID); err != nil {
		t.Errorf("second cancel: %v", err)
	}
	f.wantOutbox(o.ID, "order.created", "order.cancelled")
	f.create("u2", "t1") // the ticket is free again
}

func TestCancelHealsAHoldLeftByACrash(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	o := f.create("u1", "t1")
	// The status changed, then the process died before releasing the hold.
	if ok, err := f.st.Transition(f.ctx, o, to(o, order.CancelByUser)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if r := f.replica("t1"); r.Hold.OrderID != o.ID {
		t.Fatalf("setup: %+v", r)
	}
	if err := f.svc.Cancel(f.ctx, "u1", o.ID); err != nil {
		t.Fatal(err)
	}
	if r := f.replica("t1"); r.Hold.OrderID != "" {
		t.Errorf("a second cancel did not release the hold: %+v", r)
	}
}

func TestCancelOfACompleteOrderConflicts(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	o := f.create("u1", "t1")
	if err := f.svc.Pay(f.ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Cancel(f.ctx, "u1", o.ID); !errors.Is(err, order.ErrComplete) {
		t.Errorf("cancel of a complete order: %v, want ErrComplete", err)
	}
	if got := f.order(o.ID); got.Status != events.OrderStatusComplete {
		t.Errorf("status = %s", got.Status)
	}
}

func TestExpire(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	f.ticket("t2")
	o := f.create("u1", "t1")
	paid := f.create("u1", "t2")
	if err := f.svc.Pay(f.ctx, paid.ID); err != nil {
		t.Fatal(err)
	}
	f.advance(window - time.Second)
	if err := f.svc.Expire(f.ctx, o.ID); !errors.Is(err, order.ErrTooEarly) {
		t.Fatalf("expire before expiresAt: %v, want ErrTooEarly", err)
	}
	if got := f.order(o.ID); got.Status != events.OrderStatusCreated {
		t.Fatalf("an early expiry changed the order: %s", got.Status)
	}
	if err := f.svc.Expire(f.ctx, "nope"); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("expire of an unknown order: %v", err)
	}
	f.advance(time.Second)
	for _, id := range []string{o.ID, o.ID, paid.ID} {
		if err := f.svc.Expire(f.ctx, id); err != nil {
			t.Fatalf("expire %s: %v", id, err)
		}
	}
	if got := f.order(o.ID); got.Status != events.OrderStatusCancelled {
		t.Errorf("expired order is %s", got.Status)
	}
	if r := f.replica("t1"); r.Hold.OrderID != "" {
		t.Errorf("expired order's hold: %+v", r)
	}
	if got := f.order(paid.ID); got.Status != events.OrderStatusComplete {
		t.Errorf("a paid order was expired: %s", got.Status)
	}
	if r := f.replica("t2"); r.Hold.OrderID != paid.ID || !r.Hold.Until.Equal(order.Forever) {
		t.Errorf("paid order's hold: %+v", r)
	}
	f.wantOutbox(o.ID, "order.created", "order.cancelled")
	f.wantOutbox(paid.ID, "order.created", "order.completed")
}

func TestPay(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	o := f.create("u1", "t1")
	if err := f.svc.Pay(f.ctx, "nope"); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("pay of an unknown order: %v", err)
	}
	for range 2 { // the second is a redelivery
		if err := f.svc.Pay(f.ctx, o.ID); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.order(o.ID); got.Status != events.OrderStatusComplete || got.Version != 1 {
		t.Errorf("order = %s v%d, want complete v1", got.Status, got.Version)
	}
	if r := f.replica("t1"); r.Hold.OrderID != o.ID || !r.Hold.Until.Equal(order.Forever) {
		t.Errorf("hold = %+v, want permanent", r)
	}
	f.wantOutbox(o.ID, "order.created", "order.completed")
	// Long after, the ticket stays with the paid order.
	f.advance(100 * 365 * 24 * time.Hour)
	if _, err := f.svc.Create(f.ctx, "u2", "t1", ""); !errors.Is(err, order.ErrTicketReserved) {
		t.Errorf("order for a sold ticket: %v, want ErrTicketReserved", err)
	}
}

// ticket.refused cancels the order, live or paid (payments refunds it), releases its hold
// (also a paid order's permanent one), and a late payment finds it cancelled.
func TestTicketChangedCancelsTheOrder(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	f.ticket("t2")
	live, paid := f.create("u1", "t1"), f.create("u1", "t2")
	if err := f.svc.Pay(f.ctx, paid.ID); err != nil {
		t.Fatal(err)
	}
	for _, o := range []order.Order{live, paid} {
		for range 2 { // the second is a redelivery
			if err := f.svc.TicketChanged(f.ctx, o.ID, o.Ticket.ID, 0); err != nil {
				t.Fatal(err)
			}
		}
		got := f.order(o.ID)
		if causes := got.History; got.Status != events.OrderStatusCancelled || causes[len(causes)-1].Cause != order.CauseTicketChanged {
			t.Errorf("order %s = %s %+v, want cancelled for ticket-changed", o.ID, got.Status, causes)
		}
		if r := f.replica(o.Ticket.ID); r.Hold.OrderID != "" {
			t.Errorf("hold of %s = %+v, want released", o.Ticket.ID, r.Hold)
		}
	}
	f.wantOutbox(live.ID, "order.created", "order.cancelled")
	f.wantOutbox(paid.ID, "order.created", "order.completed", "order.cancelled")
	if err := f.svc.Pay(f.ctx, live.ID); err != nil || f.order(live.ID).Status != events.OrderStatusCancelled {
		t.Errorf("late payment: %v, order %s; want it cancelled", err, f.order(live.ID).Status)
	}
	if err := f.svc.TicketChanged(f.ctx, "nope", "t1", 0); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("ticket-changed of an unknown order: %v, want ErrNotFound", err)
	}
}

// A refusal for an edit the replica has not applied yet waits (the order stays, and holds the
// ticket, so no buyer orders it at the details refused); once ticket.updated has been
// applied, it cancels the order and the next order sees the edit.
func TestTicketChangedWaitsForTheEditInTheReplica(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	o := f.create("u1", "t1")
	for range 2 {
		if err := f.svc.TicketChanged(f.ctx, o.ID, "t1", 3); !errors.Is(err, order.ErrReplicaBehind) {
			t.Fatalf("refusal before the edit is replicated: %v, want ErrReplicaBehind", err)
		}
	}
	if got := f.order(o.ID); got.Status != events.OrderStatusCreated || f.replica("t1").Hold.OrderID != o.ID {
		t.Fatalf("order %s, hold %+v; want it unchanged while the replica is behind", got.Status, f.replica("t1").Hold)
	}
	if err := f.svc.TicketChanged(f.ctx, o.ID, "unreplicated", 1); !errors.Is(err, order.ErrReplicaBehind) {
		t.Errorf("refusal for a ticket not replicated: %v, want ErrReplicaBehind", err)
	}
	if _, err := f.svc.UpdateTicket(f.ctx, order.Ticket{ID: "t1", Title: "T t1", PriceCents: 2500, Version: 3}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.TicketChanged(f.ctx, o.ID, "t1", 3); err != nil {
		t.Fatal(err)
	}
	if got := f.order(o.ID); got.Status != events.OrderStatusCancelled {
		t.Errorf("order %s, want cancelled once the replica holds the edit", got.Status)
	}
	if next := f.create("u2", "t1"); next.Ticket.PriceCents != 2500 || next.Ticket.Version != 3 {
		t.Errorf("next order saw %d at v%d, want 2500 at v3", next.Ticket.PriceCents, next.Ticket.Version)
	}
}

func TestPayOfACancelledOrderReleasesTheHoldAndChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	o := f.create("u1", "t1")
	// Cancelled, and the hold left behind by a crash: the payment must not revive it.
	if ok, err := f.st.Transition(f.ctx, o, to(o, order.CancelByUser)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := f.svc.Pay(f.ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.order(o.ID); got.Status != events.OrderStatusCancelled {
		t.Errorf("status = %s, want cancelled", got.Status)
	}
	if r := f.replica("t1"); r.Hold.OrderID != "" {
		t.Errorf("hold = %+v, want released", r)
	}
	f.wantOutbox(o.ID, "order.created", "order.cancelled") // the payment added nothing
}

func TestPayAfterTheHoldWasTakenByAnotherOrderCancels(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	a := f.create("u1", "t1")
	// No expiry ran: A's hold lapses and B takes the ticket.
	f.advance(window + grace + time.Second)
	b := f.create("u2", "t1")
	if err := f.svc.Pay(f.ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.order(a.ID); got.Status != events.OrderStatusCancelled {
		t.Errorf("A = %s, want cancelled (payments refunds it)", got.Status)
	}
	f.wantOutbox(a.ID, "order.created", "order.cancelled")
	if r := f.replica("t1"); r.Hold.OrderID != b.ID || r.Hold.Until.Equal(order.Forever) {
		t.Errorf("hold = %+v, want B's, unchanged", r)
	}
	if got := f.order(b.ID); got.Status != events.OrderStatusCreated {
		t.Errorf("B = %s", got.Status)
	}
}

// Payment and expiry of one order racing, many times: exactly one wins, its event alone is
// in the outbox, and the hold matches the winner.
func TestPayAndExpireRace(t *testing.T) {
	f := newFixture(t)
	const n = 15
	var ids []string
	for i := range n {
		tk := fmt.Sprintf("t%d", i)
		f.ticket(tk)
		ids = append(ids, f.create("u1", tk).ID)
	}
	f.advance(window)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, id := range ids {
		// Staggering one side by a few reads through the one-command-at-a-time stand-in
		// makes both winners happen; either outcome must be consistent.
		lag := func(n int) {
			for range n {
				_, _ = f.st.Order(f.ctx, id)
			}
		}
		pay := func() {
			<-start
			lag(i % 2 * 3)
			if err := f.svc.Pay(f.ctx, id); err != nil {
				t.Errorf("pay %s: %v", id, err)
			}
		}
		expire := func() {
			<-start
			lag((i + 1) % 2 * 3)
			if err := f.svc.Expire(f.ctx, id); err != nil {
				t.Errorf("expire %s: %v", id, err)
			}
		}
		wg.Go(pay)
		wg.Go(expire)
	}
	close(start)
	wg.Wait()
	counts := map[events.OrderStatus]int{}
	for i, id := range ids {
		o := f.order(id)
		counts[o.Status]++
		r := f.replica(fmt.Sprintf("t%d", i))
		switch o.Status {
		case events.OrderStatusComplete:
			f.wantOutbox(id, "order.created", "order.completed")
			if r.Hold.OrderID != id || !r.Hold.Until.Equal(order.Forever) {
				t.Errorf("complete order %s: hold %+v", id, r)
			}
		case events.OrderStatusCancelled:
			f.wantOutbox(id, "order.created", "order.cancelled")
			if r.Hold.OrderID != "" {
				t.Errorf("cancelled order %s: hold %+v", id, r)
			}
		default:
			t.Errorf("order %s ended %s", id, o.Status)
		}
	}
	t.Logf("outcomes: %v", counts)
}

func TestSweep(t *testing.T) {
	f := newFixture(t)
	f.ticket("t1")
	f.ticket("t2")
	f.ticket("t3")
	late := f.create("u1", "t1")
	paid := f.create("u1", "t2")
	if err := f.svc.Pay(f.ctx, paid.ID); err != nil {
		t.Fatal(err)
	}
	f.advance(time.Minute)
	fresh := f.create("u1", "t3")
	f.advance(window + 10*time.Second - time.Minute) // late is 10s past expiresAt, fresh is not due
	if n, err := f.svc.Sweep(f.ctx, 30*time.Second, 10); n != 0 || err != nil {
		t.Fatalf("sweep within the grace = %d, %v; want 0", n, err)
	}
	f.advance(21 * time.Second)
	if n, err := f.svc.Sweep(f.ctx, 30*time.Second, 10); n != 1 || err != nil {
		t.Fatalf("sweep = %d, %v; want 1", n, err)
	}
	for id, want := range map[string]events.OrderStatus{late.ID: events.OrderStatusCancelled, paid.ID: events.OrderStatusComplete, fresh.ID: events.OrderStatusCreated} {
		if got := f.order(id).Status; got != want {
			t.Errorf("order %s = %s, want %s", id, got, want)
		}
	}
	if r := f.replica("t1"); r.Hold.OrderID != "" {
		t.Errorf("swept order's hold: %+v", r)
	}
}

// counter is the value of a counter of the default registry with these labels.
func counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	return testkit.Counter(t, name, labels)
}

func TestMetricsCountHoldsAndTransitions(t *testing.T) {
	type key struct{ name, a, b string }
	read := func() map[key]float64 {
		out := map[key]float64{}
		for _, o := range []string{"taken", "refused"} {
			out[key{"holds", o, ""}] = counter(t, "ticketing_order_holds_total", map[string]string{"outcome": o})
		}
		for _, sc := range [][2]string{{"created", ""}, {"complete", ""}, {"cancelled", "user"}, {"cancelled", "expired"}, {"cancelled", "lost_hold"}, {"cancelled", "ticket_changed"}} {
			out[key{"orders", sc[0], sc[1]}] = counter(t, "ticketing_orders_total", map[string]string{"status": sc[0], "cause": sc[1]})
		}
		return out
	}
	before := read()
	f := newFixture(t)
	for _, id := range []string{"t1", "t2", "t3", "t4"} {
		f.ticket(id)
	}
	user := f.create("u1", "t1")
	if _, err := f.svc.Create(f.ctx, "u2", "t1", ""); !errors.Is(err, order.ErrTicketReserved) {
		t.Fatal(err)
	}
	if err := f.svc.Cancel(f.ctx, "u1", user.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Cancel(f.ctx, "u1", user.ID); err != nil { // again: no second count
		t.Fatal(err)
	}
	paid := f.create("u1", "t2")
	if err := f.svc.Pay(f.ctx, paid.ID); err != nil {
		t.Fatal(err)
	}
	lost := f.create("u1", "t3")
	expired := f.create("u1", "t4")
	f.advance(window + grace + time.Second)
	if err := f.svc.Expire(f.ctx, expired.ID); err != nil {
		t.Fatal(err)
	}
	f.create("u2", "t3") // takes the lapsed hold
	if err := f.svc.Pay(f.ctx, lost.ID); err != nil {
		t.Fatal(err)
	}

	after := read()
	want := map[key]float64{
		{"holds", "taken", ""}: 5, {"holds", "refused", ""}: 1,
		{"orders", "created", ""}: 5, {"orders", "complete", ""}: 1,
		{"orders", "cancelled", "user"}: 1, {"orders", "cancelled", "expired"}: 1, {"orders", "cancelled", "lost_hold"}: 1,
	}
	for k, n := range want {
		if got := after[k] - before[k]; got != n {
			t.Errorf("%v moved by %v, want %v", k, got, n)
		}
	}
}

// to is o after event e, as a transition stores it.
func to(o order.Order, e order.Event) order.Order {
	n, err := o.Apply(e, time.Now())
	if err != nil {
		panic(err)
	}
	return n
}

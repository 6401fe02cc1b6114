package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/orders/internal/order"
	"ticketing/services/orders/internal/store"
)

// newStore is a store on a fresh database with its indexes ensured (twice, as a restart or a
// second replica does).
func newStore(t *testing.T) (*store.Store, context.Context) {
	t.Helper()
	return testkit.Indexed(t, func(db *mongo.Database) *store.Store { return store.New(db, nil) }), t.Context()
}

func insertTicket(t *testing.T, ctx context.Context, st *store.Store, id string) {
	t.Helper()
	out, err := st.InsertTicket(ctx, order.Ticket{ID: id, Title: "Concert " + id, PriceCents: 2010, Version: 0})
	if err != nil || out != bus.Applied {
		t.Fatalf("InsertTicket(%s) = %v, %v", id, out, err)
	}
}

func TestHoldAdmitsOneOfConcurrentOrders(t *testing.T) {
	st, ctx := newStore(t)
	insertTicket(t, ctx, st, "t1")
	now := time.Now().UTC()

	const racers = 50
	var wins, reserved atomic.Int32
	var winner atomic.Value
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			id := store.NewID()
			tk, err := st.Hold(ctx, "t1", "", order.Hold{OrderID: id, Until: now.Add(time.Minute)}, now)
			switch {
			case err == nil:
				wins.Add(1)
				winner.Store(id)
				if tk.ID != "t1" || tk.Title != "Concert t1" || tk.PriceCents != 2010 {
					t.Errorf("racer %d: Hold returned %+v", i, tk)
				}
			case errors.Is(err, order.ErrTicketReserved):
				reserved.Add(1)
			default:
				t.Errorf("racer %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || reserved.Load() != racers-1 {
		t.Fatalf("%d holds won and %d were refused, want 1 and %d", wins.Load(), reserved.Load(), racers-1)
	}
	r, err := st.Replica(ctx, "t1")
	if err != nil || r.Hold.OrderID != winner.Load().(string) {
		t.Errorf("replica holder = %q (%v), want the winner %q", r.Hold.OrderID, err, winner.Load())
	}
}

// Two replicas (two stores on one database) race for the same ticket round after round: one
// hold wins each round, whichever replica saw the ticket held last, and a release by the
// other replica is seen at once.
func TestHoldAcrossReplicas(t *testing.T) {
	db := testkit.Mongo(t)
	a, b := store.New(db, nil), store.New(db, nil)
	ctx := t.Context()
	insertTicket(t, ctx, a, "t1")
	now := time.Now().UTC()
	replicas := []*store.Store{a, b}
	for round := range 5 {
		var wins atomic.Int32
		var winner atomic.Value
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 40 {
			wg.Go(func() {
				<-start
				id := store.NewID()
				_, err := replicas[i%2].Hold(ctx, "t1", "", order.Hold{OrderID: id, Until: now.Add(time.Minute)}, now)
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store(id)
				case !errors.Is(err, order.ErrTicketReserved):
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d holds won, want 1", round, wins.Load())
		}
		// Released by the replica that did not take it: the other one remembers it held.
		for _, st := range replicas {
			if ok, err := st.ReleaseHold(ctx, "t1", winner.Load().(string)); err != nil {
				t.Fatal(err)
			} else if ok {
				break
			}
		}
	}
	// a saw it held last; b releases; a takes it at once.
	if _, err := a.Hold(ctx, "t1", "", order.Hold{OrderID: "o-a", Until: now.Add(time.Minute)}, now); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.ReleaseHold(ctx, "t1", "o-a"); err != nil || !ok {
		t.Fatalf("release by the other replica: %t, %v", ok, err)
	}
	if _, err := a.Hold(ctx, "t1", "", order.Hold{OrderID: "o-a2", Until: now.Add(time.Minute)}, now); err != nil {
		t.Errorf("hold of a ticket released by another replica: %v", err)
	}
}

func TestHoldOfUnknownTicket(t *testing.T) {
	st, ctx := newStore(t)
	now := time.Now()
	if _, err := st.Hold(ctx, "nope", "", order.Hold{OrderID: "o1", Until: now.Add(time.Minute)}, now); !errors.Is(err, order.ErrTicketNotFound) {
		t.Errorf("Hold of an unknown ticket: %v, want ErrTicketNotFound", err)
	}
}

func TestHoldLapsesByItself(t *testing.T) {
	st, ctx := newStore(t)
	insertTicket(t, ctx, st, "t1")
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := st.Hold(ctx, "t1", "", order.Hold{OrderID: "a", Until: t0.Add(time.Second)}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Hold(ctx, "t1", "", order.Hold{OrderID: "b", Until: t0.Add(time.Hour)}, t0.Add(999*time.Millisecond)); !errors.Is(err, order.ErrTicketReserved) {
		t.Fatalf("Hold before the first lapsed: %v, want ErrTicketReserved", err)
	}
	// A crashed order's hold ends at its holdUntil without anyone releasing it.
	if _, err := st.Hold(ctx, "t1", "", order.Hold{OrderID: "b", Until: t0.Add(time.Hour)}, t0.Add(1001*time.Millisecond)); err != nil {
		t.Fatalf("Hold after the first lapsed: %v", err)
	}
	r, _ := st.Replica(ctx, "t1")
	if r.Hold.OrderID != "b" || !r.Hold.Until.Equal(t0.Add(time.Hour)) {
		t.Errorf("replica = %+v, want held by b until %v", r, t0.Add(time.Hour))
	}
	// The lapsed holder cannot release or extend the new hold.
	if ok, err := st.ReleaseHold(ctx, "t1", "a"); ok || err != nil {
		t.Errorf("ReleaseHold by the lapsed holder = %v, %v; want false", ok, err)
	}
	if ok, err := st.ExtendHold(ctx, "t1", order.Hold{OrderID: "a", Until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}); ok || err != nil {
		t.Errorf("ExtendHold by the lapsed holder = %v, %v; want false", ok, err)
	}
}

func TestReleaseAndExtendAreConditionalOnTheHolder(t *testing.T) {
	st, ctx := newStore(t)
	insertTicket(t, ctx, st, "t1")
	now := time.Now().UTC()
	if _, err := st.Hold(ctx, "t1", "", order.Hold{OrderID: "a", Until: now.Add(time.Minute)}, now); err != nil {
		t.Fatal(err)
	}
	forever := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	if ok, err := st.ExtendHold(ctx, "t1", order.Hold{OrderID: "a", Until: forever}); !ok || err != nil {
		t.Fatalf("ExtendHold by the holder = %v, %v", ok, err)
	}
	r, _ := st.Replica(ctx, "t1")
	if !r.Hold.Until.Equal(forever) {
		t.Errorf("holdUntil = %v, want %v", r.Hold.Until, forever)
	}
	// A permanent hold never lapses.
	if _, err := st.Hold(ctx, "t1", "", order.Hold{OrderID: "b", Until: forever}, now.AddDate(100, 0, 0)); !errors.Is(err, order.ErrTicketReserved) {
		t.Errorf("Hold over a permanent hold: %v, want ErrTicketReserved", err)
	}
	if ok, err := st.ReleaseHold(ctx, "t1", "b"); ok || err != nil {
		t.Errorf("ReleaseHold by another order = %v, %v; want false", ok, err)
	}
	if ok, err := st.ReleaseHold(ctx, "t1", "a"); !ok || err != nil {
		t.Errorf("ReleaseHold by the holder = %v, %v; want true", ok, err)
	}
	if ok, err := st.ReleaseHold(ctx, "t1", "a"); ok || err != nil {
		t.Errorf("second ReleaseHold = %v, %v; want false", ok, err)
	}
	r, _ = st.Replica(ctx, "t1")
	if r.Hold.OrderID != "" || !r.Hold.Until.IsZero() {
		t.Errorf("released replica = %+v, want no holder and a zero holdUntil", r)
	}
	if _, err := st.Hold(ctx, "t1", "", order.Hold{OrderID: "b", Until: now.Add(time.Minute)}, now); err != nil {
		t.Errorf("Hold after release: %v", err)
	}
}

func TestTicketVersionsApplyLatestOnce(t *testing.T) {
	st, ctx := newStore(t)
	insertTicket(t, ctx, st, "t1")
	if out, err := st.InsertTicket(ctx, order.Ticket{ID: "t1", Title: "other", PriceCents: 1, Version: 0}); out != bus.Duplicate || err != nil {
		t.Errorf("redelivered ticket.created = %v, %v; want Duplicate", out, err)
	}
	now := time.Now().UTC()
	if _, err := st.Hold(ctx, "t1", "", order.Hold{OrderID: "o1", Until: now.Add(time.Minute)}, now); err != nil {
		t.Fatal(err)
	}
	v := func(n int64) order.Ticket {
		return order.Ticket{ID: "t1", Title: "v" + string(rune('0'+n)), PriceCents: 1000 + n, Version: n}
	}
	for _, step := range []struct {
		ticket order.Ticket
		want   bus.Outcome
	}{
		{v(1), bus.Applied},
		{v(3), bus.Applied},   // version 2 announced nothing (a reservation, say)
		{v(2), bus.Duplicate}, // late: never rolls the replica back
		{v(1), bus.Duplicate},
		{v(3), bus.Duplicate},
		{order.Ticket{ID: "unknown", Title: "x", PriceCents: 1, Version: 1}, bus.NotYet},
	} {
		if out, err := st.ApplyTicketVersion(ctx, step.ticket); out != step.want || err != nil {
			t.Errorf("apply %s v%d = %v, %v; want %v", step.ticket.ID, step.ticket.Version, out, err, step.want)
		}
	}
	r, err := st.Replica(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Ticket != v(3) {
		t.Errorf("replica = %+v, want %+v", r.Ticket, v(3))
	}
	if r.Hold.OrderID != "o1" {
		t.Errorf("a ticket event touched the hold: holder %q, want o1", r.Hold.OrderID)
	}
}

func newOrder(userID, ticketID string, expiresAt time.Time) order.Order {
	return order.Order{
		ID: store.NewID(), UserID: userID, Status: events.OrderStatusCreated, ExpiresAt: expiresAt,
		Ticket: order.Ticket{ID: ticketID, Title: "T", PriceCents: 500, Version: 2},
	}
}

func TestOrderRoundTripAndConditionalTransition(t *testing.T) {
	st, ctx := newStore(t)
	exp := time.Now().UTC().Add(time.Minute).Truncate(time.Millisecond)
	o := newOrder("u1", "t1", exp)
	if err := st.InsertOrder(ctx, o); err != nil {
		t.Fatal(err)
	}
	got, err := st.Order(ctx, o.ID)
	if err != nil || !reflect.DeepEqual(got, o) {
		t.Fatalf("Order = %+v, %v; want %+v", got, err, o)
	}
	if _, err := st.Order(ctx, "nope"); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("unknown order: %v, want ErrNotFound", err)
	}

	stale := o
	stale.Version = 7
	if ok, err := st.Transition(ctx, stale, to(stale, order.CancelByUser)); ok || err != nil {
		t.Errorf("Transition from a stale version = %v, %v; want false", ok, err)
	}
	if ok, err := st.Transition(ctx, o, to(o, order.Pay)); !ok || err != nil {
		t.Fatalf("Transition = %v, %v", ok, err)
	}
	// The same transition again finds the order moved on.
	if ok, err := st.Transition(ctx, o, to(o, order.CancelByUser)); ok || err != nil {
		t.Errorf("second Transition from the same read = %v, %v; want false", ok, err)
	}
	got, _ = st.Order(ctx, o.ID)
	if got.Status != events.OrderStatusComplete || got.Version != 1 {
		t.Errorf("order = %s v%d, want complete v1", got.Status, got.Version)
	}

	outbox := testkit.Outbox(t, st.Orders(), o.ID)
	if len(outbox) != 2 || outbox[0].Subject != events.SubjectOrderCreated || outbox[1].Subject != events.SubjectOrderCompleted {
		t.Errorf("outbox = %+v, want order.created then order.completed", outbox)
	}
}

// A replica's next transition of an order it stored starts from what it wrote, without a
// read. When another replica changed the order meanwhile (a new version, or a history entry
// without one), the write misses and the order is read and decided again.
func TestUpdateOrderStartsFromTheRememberedOrder(t *testing.T) {
	db, queries := testkit.MongoRecording(t)
	a, b := store.New(db, nil), store.New(db, nil)
	ctx := t.Context()
	reads := func() int { return queries.Count("find", bson.D{{Key: "_id", Value: ""}}) }
	cancel := func(o order.Order) (order.Order, error) { return o.Apply(order.CancelByUser, time.Now()) }
	exp := time.Now().UTC().Add(time.Minute).Truncate(time.Millisecond)
	insert := func(st *store.Store) order.Order {
		o := newOrder("u1", "t1", exp)
		if err := st.InsertOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		return o
	}

	o := insert(a)
	if got, err := a.UpdateOrder(ctx, o.ID, cancel); err != nil || got.Status != events.OrderStatusCancelled || got.Version != 1 {
		t.Fatalf("UpdateOrder on the replica that stored it = %s v%d, %v; want cancelled v1", got.Status, got.Version, err)
	}
	if n := reads(); n != 0 {
		t.Errorf("the order was read %d times, want none", n)
	}

	// b pays an order a stored: a's cancel starts from the order as a wrote it, misses, reads.
	paid := insert(a)
	if _, err := b.UpdateOrder(ctx, paid.ID, func(o order.Order) (order.Order, error) { return o.Apply(order.Pay, time.Now()) }); err != nil {
		t.Fatal(err)
	}
	if _, err := a.UpdateOrder(ctx, paid.ID, cancel); !errors.Is(err, order.ErrComplete) {
		t.Errorf("cancel of an order paid through another replica: %v, want ErrComplete", err)
	}
	if got, _ := a.Order(ctx, paid.ID); got.Status != events.OrderStatusComplete || got.Version != 1 {
		t.Errorf("order = %s v%d, want complete v1", got.Status, got.Version)
	}
	if outbox := testkit.Outbox(t, a.Orders(), paid.ID); len(outbox) != 2 || outbox[1].Subject != events.SubjectOrderCompleted {
		t.Errorf("outbox = %+v, want order.created then order.completed", outbox)
	}

	// b records a history entry without a new version: a's transition keeps it.
	noted := insert(a)
	if err := b.AddToHistory(ctx, noted.ID, order.CauseRefunded, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := a.UpdateOrder(ctx, noted.ID, cancel)
	if err != nil || got.Status != events.OrderStatusCancelled || len(got.History) != 2 || got.History[0].Cause != order.CauseRefunded {
		t.Fatalf("UpdateOrder after another replica's history entry = %+v, %v; want cancelled with both entries", got, err)
	}
	if stored, _ := a.Order(ctx, noted.ID); len(stored.History) != 2 || stored.History[0].Cause != order.CauseRefunded || stored.History[1].Cause != order.CauseCancelledByUser {
		t.Errorf("stored history %+v, want refunded, then cancelled", stored.History)
	}
}

// The replica that placed the orders cancels them from what it remembers while another
// replica pays them from what it read, all at once: each order takes exactly one of the two
// transitions, and its outbox announces that one. A cancel that loses reads the paid order
// and refuses (ErrComplete).
func TestRememberedTransitionsRaceAnotherReplica(t *testing.T) {
	db := testkit.Mongo(t)
	a, b := store.New(db, nil), store.New(db, nil)
	ctx := t.Context()
	exp := time.Now().UTC().Add(time.Minute).Truncate(time.Millisecond)
	const n = 40
	orders := make([]order.Order, n)
	for i := range orders {
		orders[i] = newOrder("u1", fmt.Sprintf("t%d", i), exp)
		if err := a.InsertOrder(ctx, orders[i]); err != nil {
			t.Fatal(err)
		}
	}
	var cancelled, paid atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, o := range orders {
		wg.Go(func() {
			<-start
			_, err := a.UpdateOrder(ctx, o.ID, func(o order.Order) (order.Order, error) { return o.Apply(order.CancelByUser, time.Now()) })
			switch {
			case err == nil:
				cancelled.Add(1)
			case !errors.Is(err, order.ErrComplete):
				t.Error(err)
			}
		})
		wg.Go(func() {
			// b read the order before the start: its write races a's, neither reads.
			next := to(o, order.Pay)
			<-start
			ok, err := b.Transition(ctx, o, next)
			if err != nil {
				t.Error(err)
			} else if ok {
				paid.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := cancelled.Load() + paid.Load(); got != n {
		t.Fatalf("%d cancelled + %d paid = %d transitions, want one for each of %d orders", cancelled.Load(), paid.Load(), got, n)
	}
	for _, o := range orders {
		got, err := a.Order(ctx, o.ID)
		if err != nil || got.Version != 1 {
			t.Fatalf("order %s = %s v%d, %v; want one transition", o.ID, got.Status, got.Version, err)
		}
		want := events.SubjectOrderCancelled
		if got.Status == events.OrderStatusComplete {
			want = events.SubjectOrderCompleted
		}
		if outbox := testkit.Outbox(t, a.Orders(), o.ID); len(outbox) != 2 || outbox[1].Subject != want {
			t.Errorf("order %s %s: outbox %+v, want order.created then %s", o.ID, got.Status, outbox, want)
		}
	}
	t.Logf("%d cancelled, %d paid", cancelled.Load(), paid.Load())
}

func TestListByUserAndOverdue(t *testing.T) {
	st, ctx := newStore(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	var mine []order.Order
	for i := range 5 {
		o := newOrder("u1", "t", now.Add(time.Duration(i-2)*time.Minute)) // two are past expiresAt
		mine = append(mine, o)
		if err := st.InsertOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.InsertOrder(ctx, newOrder("u2", "t", now.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	// One overdue order is complete already: the sweeper leaves it alone.
	if ok, err := st.Transition(ctx, mine[0], to(mine[0], order.Pay)); !ok || err != nil {
		t.Fatal(ok, err)
	}

	ids := func(list []order.Order) []string {
		var out []string
		for _, o := range list {
			out = append(out, o.ID)
		}
		return out
	}
	all, err := st.ListByUser(ctx, "u1", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{mine[4].ID, mine[3].ID, mine[2].ID, mine[1].ID, mine[0].ID}
	if !slices.Equal(ids(all), want) {
		t.Errorf("ListByUser = %v, want newest first %v", ids(all), want)
	}
	page, _ := st.ListByUser(ctx, "u1", "", 2)
	next, _ := st.ListByUser(ctx, "u1", page[1].ID, 2)
	if !slices.Equal(ids(page), want[:2]) || !slices.Equal(ids(next), want[2:4]) {
		t.Errorf("pages = %v %v, want %v %v", ids(page), ids(next), want[:2], want[2:4])
	}
	if none, _ := st.ListByUser(ctx, "u3", "", 10); len(none) != 0 {
		t.Errorf("another user's list = %v, want empty", ids(none))
	}

	due, err := st.Overdue(ctx, now, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[0].UserID != "u2" || due[1].ID != mine[1].ID {
		t.Errorf("Overdue = %+v, want u2's order then %s", due, mine[1].ID)
	}
}

// Every query the store makes is answered from an index (checked on MongoDB and on the
// stand-in's PostgreSQL backend; `make test` runs the store's tests on both stand-in backends).
func TestEveryQueryUsesAnIndex(t *testing.T) {
	testkit.EveryQueryIndexed(t, func(db *mongo.Database) *store.Store { return store.New(db, nil) }, func(ctx context.Context, st *store.Store) {
		now := time.Now().UTC()
		insertTicket(t, ctx, st, "t1")
		if _, err := st.ApplyTicketVersion(ctx, order.Ticket{ID: "t1", Title: "x", PriceCents: 1, Version: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.ApplyTicketVersion(ctx, order.Ticket{ID: "t1", Title: "x", PriceCents: 1, Version: 1}); err != nil {
			t.Fatal(err) // a duplicate: the write misses, the read decides
		}
		o := order.New(store.NewID(), "u1", order.Ticket{ID: "t1"}, now, time.Minute)
		if _, err := st.Hold(ctx, "t1", "", order.Hold{OrderID: o.ID, Until: now.Add(time.Minute)}, now); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Hold(ctx, "t1", "", order.Hold{OrderID: "another", Until: now.Add(time.Minute)}, now); !errors.Is(err, order.ErrTicketReserved) {
			t.Fatal(err)
		}
		if err := st.InsertOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		steps := []error{}
		_, err := st.Order(ctx, o.ID)
		steps = append(steps, err)
		_, err = st.ListByUser(ctx, "u1", "", 10)
		steps = append(steps, err)
		_, err = st.ListByUser(ctx, "u1", o.ID, 10)
		steps = append(steps, err)
		_, err = st.Overdue(ctx, now, 10)
		steps = append(steps, err)
		_, err = st.Transition(ctx, o, to(o, order.CancelByUser))
		steps = append(steps, err)
		_, err = st.ExtendHold(ctx, "t1", order.Hold{OrderID: o.ID, Until: now.Add(time.Hour)})
		steps = append(steps, err)
		_, err = st.ReleaseHold(ctx, "t1", o.ID)
		steps = append(steps, err)

		// The sale path: the event's sale, a slot of the buyer's limit taken, extended, refused
		// when all are held, released.
		if _, err := st.InsertTicket(ctx, order.Ticket{ID: "t2", Title: "x", PriceCents: 1, EventID: "e1"}); err != nil {
			t.Fatal(err)
		}
		sale := order.Sale{EventID: "e1", OnSaleAt: now.Add(-time.Hour), MaxPerUser: 2}
		_, err = st.InsertSale(ctx, sale, 1)
		steps = append(steps, err)
		_, err = st.Sale(ctx, "e1")
		steps = append(steps, err)
		h := order.Hold{OrderID: "o2", Until: now.Add(time.Minute)}
		_, slot, err := st.HoldWithin(ctx, sale, "u1", "t2", h, now)
		steps = append(steps, err)
		steps = append(steps, st.ExtendSlot(ctx, slot, order.Hold{OrderID: "o2", Until: now.Add(time.Hour)}))
		if _, _, err := st.HoldWithin(ctx, order.Sale{EventID: "e1", MaxPerUser: 1}, "u1", "t1", order.Hold{OrderID: "o3", Until: now.Add(time.Minute)}, now); !errors.Is(err, order.ErrLimitReached) {
			t.Fatalf("a second order past the limit: %v", err)
		}
		steps = append(steps, st.ReleaseSlot(ctx, slot, "o2"))
		steps = append(steps, st.ReleaseSlot(ctx, "", "o2"))
		if err := errors.Join(steps...); err != nil {
			t.Fatal(err)
		}
	})
}

// to is o after event e, as a transition stores it.
func to(o order.Order, e order.Event) order.Order {
	n, err := o.Apply(e, time.Now())
	if err != nil {
		panic(err)
	}
	return n
}

// A slot in an event's limit lapses with its order's hold, and grows with it: an order whose
// payment started (its hold extended) keeps its place, so its buyer cannot take a second one
// past the limit while it waits; ExtendSlot never shortens a slot.
func TestSlotFollowsTheExtendedHold(t *testing.T) {
	st, ctx := newStore(t)
	for _, id := range []string{"t1", "t2"} {
		if _, err := st.InsertTicket(ctx, order.Ticket{ID: id, Title: id, PriceCents: 100, EventID: "e1"}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	sale := order.Sale{EventID: "e1", OnSaleAt: now.Add(-time.Hour), MaxPerUser: 1}
	_, slot, err := st.HoldWithin(ctx, sale, "u", "t1", order.Hold{OrderID: "a", Until: now.Add(time.Minute)}, now)
	if err != nil || slot != sale.Slots("u")[0] {
		t.Fatalf("first hold: slot %q, %v", slot, err)
	}
	if ok, err := st.ExtendHold(ctx, "t1", order.Hold{OrderID: "a", Until: now.Add(10 * time.Minute)}); !ok || err != nil {
		t.Fatalf("ExtendHold = %v, %v", ok, err)
	}
	if err := st.ExtendSlot(ctx, slot, order.Hold{OrderID: "a", Until: now.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	// An order stored before orders kept their slot names none: its slot is found by holder.
	if err := st.ExtendSlot(ctx, "", order.Hold{OrderID: "a", Until: now.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	later := now.Add(5 * time.Minute) // past the first deadline, within the extended one
	if _, _, err := st.HoldWithin(ctx, sale, "u", "t2", order.Hold{OrderID: "b", Until: later.Add(time.Minute)}, later); !errors.Is(err, order.ErrLimitReached) {
		t.Fatalf("second hold while the first waits for its payment: %v, want ErrLimitReached", err)
	}
	after := now.Add(11 * time.Minute) // the extended hold lapsed: the place is free again
	if _, _, err := st.HoldWithin(ctx, sale, "u", "t2", order.Hold{OrderID: "b", Until: after.Add(time.Minute)}, after); err != nil {
		t.Fatalf("hold after the extended one lapsed: %v", err)
	}
}

// ReleaseSlot frees a slot only for the order that holds it, whether the order names its slot
// or (stored before orders kept it) does not.
func TestReleaseSlotOnlyForItsHolder(t *testing.T) {
	st, ctx := newStore(t)
	for _, id := range []string{"t1", "t2", "t3"} {
		if _, err := st.InsertTicket(ctx, order.Ticket{ID: id, Title: id, PriceCents: 100, EventID: "e1"}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	sale := order.Sale{EventID: "e1", OnSaleAt: now.Add(-time.Hour), MaxPerUser: 1}
	hold := func(ticket, orderID string) (string, error) {
		_, slot, err := st.HoldWithin(ctx, sale, "u", ticket, order.Hold{OrderID: orderID, Until: now.Add(time.Minute)}, now)
		return slot, err
	}
	slot, err := hold("t1", "a")
	if err != nil {
		t.Fatal(err)
	}
	for _, release := range []struct{ slot, order string }{{slot, "other"}, {"", "other"}} {
		if err := st.ReleaseSlot(ctx, release.slot, release.order); err != nil {
			t.Fatal(err)
		}
		if _, err := hold("t2", "b"); !errors.Is(err, order.ErrLimitReached) {
			t.Fatalf("after a release by another order (slot %q): %v, want ErrLimitReached", release.slot, err)
		}
	}
	if err := st.ReleaseSlot(ctx, slot, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := hold("t2", "b"); err != nil {
		t.Fatalf("after the holder's release: %v", err)
	}
	if err := st.ReleaseSlot(ctx, "", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := hold("t3", "c"); err != nil {
		t.Fatalf("after the holder's release by holder: %v", err)
	}
}

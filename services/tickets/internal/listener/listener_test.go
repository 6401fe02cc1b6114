package listener_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/tickets/internal/app"
	"ticketing/services/tickets/internal/listener"
	"ticketing/services/tickets/internal/store"
	"ticketing/services/tickets/internal/ticket"
)

type notes struct {
	mu   sync.Mutex
	envs [][]bus.Envelope // per notice
}

func (n *notes) Notify(_ string, envs ...bus.Envelope) {
	n.mu.Lock()
	n.envs = append(n.envs, envs)
	n.mu.Unlock()
}

func (n *notes) count() int { n.mu.Lock(); defer n.mu.Unlock(); return len(n.envs) }

func (n *notes) reset() { n.mu.Lock(); defer n.mu.Unlock(); n.envs = nil }

type fixture struct {
	st     *store.Store
	notes  *notes
	l      *listener.Listener
	ticket string
}

func setup(t *testing.T) *fixture {
	t.Helper()
	n := &notes{}
	st := store.New(testkit.Mongo(t), n, nil)
	tk := ticket.New(bson.NewObjectID().Hex(), "u1", ticket.Details{Title: "Concert", PriceCents: 500}, time.Now())
	if err := st.Create(t.Context(), tk); err != nil {
		t.Fatal(err)
	}
	n.reset() // the ticket.created
	return &fixture{st: st, notes: n, l: listener.New(app.New(st, slog.New(slog.DiscardHandler), 500*time.Millisecond)), ticket: tk.ID}
}

func (f *fixture) created(order string) error {
	return f.l.OrderCreated(context.Background(), events.OrderCreated{ID: order, Version: 0, Status: "created",
		UserID: "u2", ExpiresAt: time.Now().Add(time.Minute), Ticket: events.TicketRef{ID: f.ticket, PriceCents: 500}})
}

func (f *fixture) cancelled(order string) error {
	return f.l.OrderCancelled(context.Background(), events.OrderCancelled{ID: order, Version: 1, Ticket: events.TicketRef{ID: f.ticket}})
}

func (f *fixture) completed(order string) error {
	return f.l.OrderCompleted(context.Background(), events.OrderCompleted{ID: order, Version: 1, Ticket: events.TicketRef{ID: f.ticket}})
}

// state is the ticket and the ticket.updated events waiting in its outbox.
func (f *fixture) state(t *testing.T) (ticket.Ticket, []events.TicketUpdated) {
	t.Helper()
	tk, err := f.st.Get(t.Context(), f.ticket)
	if err != nil {
		t.Fatal(err)
	}
	var ups []events.TicketUpdated
	for _, env := range testkit.Outbox(t, f.st.Collection(), f.ticket) {
		if env.Subject == events.SubjectTicketUpdated {
			e, err := events.Decode[events.TicketUpdated](env.Data)
			if err != nil {
				t.Fatal(err)
			}
			ups = append(ups, e)
		}
	}
	return tk, ups
}

// expect checks the ticket's holder, sold flag and version, and that no ticket.updated event
// waits in its outbox: reservations, releases and sales are not announced.
func (f *fixture) expect(t *testing.T, holder string, sold bool, version int64) {
	t.Helper()
	tk, ups := f.state(t)
	if tk.OrderID != holder || tk.Sold != sold || tk.Version != version {
		t.Fatalf("ticket held by %q, sold %t, version %d; want %q, %t, %d", tk.OrderID, tk.Sold, tk.Version, holder, sold, version)
	}
	if len(ups) != 0 {
		t.Fatalf("ticket.updated events %+v, want none", ups)
	}
}

func TestReserveReleaseIdempotent(t *testing.T) {
	f := setup(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	must(f.created("o1"))
	f.expect(t, "o1", false, 1)
	must(f.created("o1")) // redelivered
	f.expect(t, "o1", false, 1)

	must(f.cancelled("o2")) // not the holder
	f.expect(t, "o1", false, 1)
	if tk, _ := f.state(t); !slices.Equal(tk.ReleasedOrders, []string{"o2"}) {
		t.Fatalf("released orders %v, want [o2]", tk.ReleasedOrders)
	}

	must(f.cancelled("o1"))
	f.expect(t, "", false, 2)
	must(f.cancelled("o1")) // redelivered
	f.expect(t, "", false, 2)
	must(f.created("o1")) // late or redelivered after the cancellation
	f.expect(t, "", false, 2)
	must(f.created("o2")) // cancelled before it reserved
	f.expect(t, "", false, 2)

	if n := f.notes.count(); n != 0 {
		t.Errorf("relay notified %d times, want 0: no write queued an event", n)
	}
}

func TestSellIdempotent(t *testing.T) {
	f := setup(t)
	if err := f.completed("o1"); !errors.Is(err, bus.ErrNotYet) {
		t.Fatalf("order.completed before order.created: %v, want ErrNotYet", err)
	}
	if err := f.created("o1"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := f.completed("o1"); err != nil {
			t.Fatal(err)
		}
		f.expect(t, "o1", true, 2)
	}
	if err := f.cancelled("o1"); err != nil { // a paid order is never released
		t.Fatal(err)
	}
	f.expect(t, "o1", true, 2)
	if err := f.created("o2"); !errors.Is(err, bus.ErrNotYet) {
		t.Fatalf("order.created by another order on a sold ticket: %v, want ErrNotYet", err)
	}
	if err := f.completed("o2"); err == nil || errors.Is(err, bus.ErrNotYet) || !errors.Is(err, ticket.ErrImpossible) {
		t.Fatalf("order.completed by another order on a sold ticket: %v, want a permanent ErrImpossible", err)
	}
}

func TestOutOfOrder(t *testing.T) {
	f := setup(t)
	if err := f.created("o1"); err != nil {
		t.Fatal(err)
	}
	// o2 was created after o1's cancellation, but its event arrives first: not yet.
	if err := f.created("o2"); !errors.Is(err, bus.ErrNotYet) {
		t.Fatalf("order.created while another order holds the ticket: %v, want ErrNotYet", err)
	}
	if err := f.completed("o2"); !errors.Is(err, bus.ErrNotYet) {
		t.Fatalf("order.completed while another order holds the ticket: %v, want ErrNotYet", err)
	}
	f.expect(t, "o1", false, 1)
	if err := f.cancelled("o1"); err != nil {
		t.Fatal(err)
	}
	if err := f.created("o2"); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "o2", false, 3)

	// A cancelled order that completes can never apply.
	if err := f.completed("o1"); err == nil || errors.Is(err, bus.ErrNotYet) || !errors.Is(err, ticket.ErrImpossible) {
		t.Fatalf("order.completed after order.cancelled: %v, want a permanent ErrImpossible", err)
	}
}

func TestUnknownTicketIsNotYet(t *testing.T) {
	f := setup(t)
	f.ticket = bson.NewObjectID().Hex()
	for name, err := range map[string]error{"created": f.created("o1"), "cancelled": f.cancelled("o1"), "completed": f.completed("o1")} {
		if !errors.Is(err, bus.ErrNotYet) {
			t.Errorf("order.%s for an unknown ticket: %v, want ErrNotYet", name, err)
		}
	}
}

// order.created and order.cancelled of one order, handled at once many times over, never
// leave a cancelled order holding the ticket.
func TestCreatedRacingCancelledOfTheSameOrder(t *testing.T) {
	f := setup(t)
	for round := range 8 {
		order := "o" + string(rune('a'+round))
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := f.created(order); err != nil && !errors.Is(err, store.ErrLostRace) {
				t.Errorf("created: %v", err)
			}
		})
		wg.Go(func() {
			if err := f.cancelled(order); err != nil && !errors.Is(err, store.ErrLostRace) {
				t.Errorf("cancelled: %v", err)
			}
		})
		wg.Wait()
		// Redeliver whatever lost too many races, as the bus would.
		for _, redeliver := range []func(string) error{f.created, f.cancelled} {
			var err error
			for range 5 {
				if err = redeliver(order); err == nil {
					break
				}
			}
			if err != nil {
				t.Fatalf("round %d: redelivery: %v", round, err)
			}
		}
		tk, _ := f.state(t)
		if tk.OrderID != "" {
			t.Fatalf("round %d: cancelled order %s holds the ticket", round, tk.OrderID)
		}
	}
}

package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/mongodb"
	"ticketing/common/testkit"
	"ticketing/services/tickets/internal/store"
	"ticketing/services/tickets/internal/ticket"
)

// newStore is a store on a fresh database with its indexes ensured (twice, as a restart or a
// second replica does).
func newStore(t *testing.T) *store.Store {
	t.Helper()
	return testkit.Indexed(t, func(db *mongo.Database) *store.Store { return store.New(db, nil, nil) })
}

func create(t *testing.T, st *store.Store, title string) ticket.Ticket {
	t.Helper()
	tk := ticket.New(bson.NewObjectID().Hex(), "u1", ticket.Details{Title: title, PriceCents: 2010}, time.Now())
	if err := st.Create(t.Context(), tk); err != nil {
		t.Fatal(err)
	}
	return tk
}

// outbox is the pending events of ticket id, as the relay would read them.
// applyEdit has tk's owner edit it into an Opera at 30.00 and applies the edit, which must
// store a new version; it returns the edited ticket.
func applyEdit(t *testing.T, st *store.Store, tk ticket.Ticket) ticket.Ticket {
	t.Helper()
	next, err := tk.Edit("u1", ticket.Details{Title: "Opera", PriceCents: 3000})
	if err != nil {
		t.Fatal(err)
	}
	if stored, err := st.Apply(t.Context(), tk, next); err != nil || !stored {
		t.Fatalf("Apply = %t, %v; want a new version", stored, err)
	}
	return next
}

func outbox(t *testing.T, st *store.Store, id string) []bus.Envelope {
	t.Helper()
	return testkit.Outbox(t, st.Collection(), id)
}

// pending is the events of type E among envs.
func pending[E events.Event](t *testing.T, envs []bus.Envelope) []E {
	t.Helper()
	var out []E
	var zero E
	for _, env := range envs {
		if env.Subject != zero.Subject() {
			continue
		}
		e, err := events.Decode[E](env.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func updates(t *testing.T, envs []bus.Envelope) []events.TicketUpdated {
	t.Helper()
	return pending[events.TicketUpdated](t, envs)
}

func TestCreateAndGet(t *testing.T) {
	st := newStore(t)
	tk := create(t, st, "Concert")

	got, err := st.Get(t.Context(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != tk.ID || got.Title != "Concert" || got.PriceCents != 2010 || got.UserID != "u1" ||
		got.Version != 0 || got.OrderID != "" || got.Sold || len(got.ReleasedOrders) != 0 ||
		!got.CreatedAt.Equal(tk.CreatedAt.Truncate(time.Millisecond)) {
		t.Errorf("Get = %+v, want %+v", got, tk)
	}

	envs := outbox(t, st, tk.ID)
	if len(envs) != 1 || envs[0].Subject != events.SubjectTicketCreated || envs[0].ID == "" || envs[0].Schema != 1 {
		t.Fatalf("outbox = %+v, want one ticket.created", envs)
	}
	var e events.TicketCreated
	if err := json.Unmarshal(envs[0].Data, &e); err != nil {
		t.Fatal(err)
	}
	if want := tk.Created(); e != want {
		t.Errorf("ticket.created = %+v, want %+v", e, want)
	}

	for _, id := range []string{bson.NewObjectID().Hex(), "nope", ""} {
		if _, err := st.Get(t.Context(), id); !errors.Is(err, ticket.ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want ErrNotFound", id, err)
		}
	}
}

func TestListFree(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	var all []ticket.Ticket
	for i := range 5 {
		all = append(all, create(t, st, fmt.Sprint("t", i)))
	}
	// Reserve t1 and sell t3: neither is listed.
	for _, i := range []int{1, 3} {
		if _, _, err := st.Update(ctx, all[i].ID, 1, func(t ticket.Ticket) (ticket.Ticket, error) { return t.Reserve("o", nil) }); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := st.Update(ctx, all[3].ID, 1, func(t ticket.Ticket) (ticket.Ticket, error) { return t.Sell("o") }); err != nil {
		t.Fatal(err)
	}

	ids := func(after string, limit int) []string {
		t.Helper()
		got, err := st.ListFree(ctx, "", after, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tk := range got {
			out = append(out, tk.Title)
		}
		return out
	}
	for _, tc := range []struct {
		after string
		limit int
		want  []string
	}{
		{"", 50, []string{"t4", "t2", "t0"}},
		{"", 2, []string{"t4", "t2"}},
		{all[2].ID, 2, []string{"t0"}},
		{all[3].ID, 50, []string{"t2", "t0"}}, // after a ticket that is not listed itself
		{all[0].ID, 50, nil},
	} {
		if got := ids(tc.after, tc.limit); !slices.Equal(got, tc.want) {
			t.Errorf("ListFree(after %q, %d) = %v, want %v", tc.after, tc.limit, got, tc.want)
		}
	}
}

func TestApplyEditPushesItsEvent(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	tk := create(t, st, "Concert")

	next := applyEdit(t, st, tk)
	ups := updates(t, outbox(t, st, tk.ID))
	if len(ups) != 1 || ups[0].Version != 1 || ups[0].OrderID != nil ||
		ups[0].Title != "Opera" || ups[0].PriceCents != 3000 || ups[0].UserID != "u1" {
		t.Fatalf("ticket.updated events = %+v, want one at version 1", ups)
	}

	// The same write from the stale read loses, and changes nothing.
	if _, err := st.Apply(ctx, tk, next); !errors.Is(err, store.ErrLostRace) {
		t.Fatalf("stale Apply error = %v, want ErrLostRace", err)
	}
	if n := len(outbox(t, st, tk.ID)); n != 2 {
		t.Errorf("outbox holds %d events after a lost race, want 2", n)
	}
}

// A reservation and a release make new versions and announce nothing.
func TestApplyReserveReleaseArePrivate(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	tk := create(t, st, "Concert")

	next, err := tk.Reserve("o1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if stored, err := st.Apply(ctx, tk, next); err != nil || !stored {
		t.Fatalf("Apply = %t, %v; want a new version", stored, err)
	}
	got, err := st.Get(ctx, tk.ID)
	if err != nil || got.Version != 1 || got.OrderID != "o1" {
		t.Fatalf("Get = %+v, %v; want version 1 held by o1", got, err)
	}
	released := got.Release("o1")
	if stored, err := st.Apply(ctx, got, released); err != nil || !stored {
		t.Fatalf("Apply = %t, %v; want a new version", stored, err)
	}
	if got, _ := st.Get(ctx, tk.ID); got.OrderID != "" || got.Version != 2 || !slices.Equal(got.ReleasedOrders, []string{"o1"}) {
		t.Errorf("after release: %+v", got)
	}
	if ups := updates(t, outbox(t, st, tk.ID)); len(ups) != 0 {
		t.Errorf("ticket.updated events = %+v, want none", ups)
	}
}

// ReserveFree writes only where ticket.Reserve would reserve: a free ticket, an order not
// released; it never reads.
func TestReserveFree(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	tk := create(t, st, "Concert")

	if written, ok, err := st.ReserveFree(ctx, tk.ID, "o1", nil); err != nil || !ok || written.OrderID != "o1" || written.Version != 1 || written.Title != "Concert" {
		t.Fatalf("ReserveFree on a free ticket = %+v, %t, %v; want true, held by o1 at version 1", written, ok, err)
	}
	if got, _ := st.Get(ctx, tk.ID); got.OrderID != "o1" || got.Version != 1 {
		t.Fatalf("after ReserveFree: %+v, want held by o1 at version 1", got)
	}
	for _, order := range []string{"o1", "o2"} { // held: by itself (a redelivery), by another
		if _, ok, err := st.ReserveFree(ctx, tk.ID, order, nil); err != nil || ok {
			t.Fatalf("ReserveFree(%s) on a held ticket = %t, %v; want false", order, ok, err)
		}
	}
	got, _ := st.Get(ctx, tk.ID)
	if _, err := st.Apply(ctx, got, got.Release("o1")); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.ReserveFree(ctx, tk.ID, "o1", nil); err != nil || ok {
		t.Fatalf("ReserveFree by a released order = %t, %v; want false", ok, err)
	}
	if _, ok, err := st.ReserveFree(ctx, "missing", "o3", nil); err != nil || ok {
		t.Fatalf("ReserveFree on a missing ticket = %t, %v; want false", ok, err)
	}
	if got, _ := st.Get(ctx, tk.ID); got.OrderID != "" || got.Version != 2 || len(updates(t, outbox(t, st, tk.ID))) != 0 {
		t.Errorf("after refused reservations: %+v", got)
	}
}

// ReleaseHeld writes only where ticket.Release would free the ticket: held unsold by the
// order, which is not recorded as released yet; it never reads, and announces nothing.
func TestReleaseHeld(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	tk := create(t, st, "Concert")
	if _, ok, err := st.ReleaseHeld(ctx, tk.ID, "o1"); err != nil || ok {
		t.Fatalf("ReleaseHeld of a free ticket = %t, %v; want false", ok, err)
	}
	if _, ok, err := st.ReserveFree(ctx, tk.ID, "o1", nil); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, ok, err := st.ReleaseHeld(ctx, tk.ID, "o2"); err != nil || ok {
		t.Fatalf("ReleaseHeld by an order that does not hold the ticket = %t, %v; want false", ok, err)
	}
	written, ok, err := st.ReleaseHeld(ctx, tk.ID, "o1")
	if err != nil || !ok || written.OrderID != "" || written.Version != 2 || !written.Released("o1") || written.Title != "Concert" {
		t.Fatalf("ReleaseHeld by the holder = %+v, %t, %v; want free at version 2 with o1 released", written, ok, err)
	}
	if got, _ := st.Get(ctx, tk.ID); !reflect.DeepEqual(got, written) {
		t.Fatalf("stored %+v, ReleaseHeld returned %+v", got, written)
	}
	if _, ok, err := st.ReleaseHeld(ctx, tk.ID, "o1"); err != nil || ok {
		t.Fatalf("ReleaseHeld redelivered = %t, %v; want false", ok, err)
	}
	if _, ok, err := st.ReserveFree(ctx, tk.ID, "o3", nil); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, _, err := st.Update(ctx, tk.ID, 1, func(t ticket.Ticket) (ticket.Ticket, error) { return t.Sell("o3") }); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.ReleaseHeld(ctx, tk.ID, "o3"); err != nil || ok {
		t.Fatalf("ReleaseHeld of a sold ticket = %t, %v; want false", ok, err)
	}
	if _, ok, err := st.ReleaseHeld(ctx, "missing", "o1"); err != nil || ok {
		t.Fatalf("ReleaseHeld of a missing ticket = %t, %v; want false", ok, err)
	}
	if got, _ := st.Get(ctx, tk.ID); !got.Sold || got.OrderID != "o3" || got.Version != 4 || len(outbox(t, st, tk.ID)) != 1 {
		t.Errorf("after the refused releases: %+v with %d events pending, want sold to o3 at version 4, only ticket.created", got, len(outbox(t, st, tk.ID)))
	}
}

// An order that saw the ticket before its last edit is not reserved: the fast path misses,
// and the domain's refusal is stored at the same version with one ticket.refused, once.
func TestReserveRefusesAnOrderThatSawAnOlderEdit(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	tk := create(t, st, "Concert")
	applyEdit(t, st, tk)
	seen := int64(0)
	if _, ok, err := st.ReserveFree(ctx, tk.ID, "o1", &seen); err != nil || ok {
		t.Fatalf("ReserveFree by an order that saw version 0 of a ticket edited at 1 = %t, %v; want false", ok, err)
	}
	for range 2 { // the second is a redelivery
		got, stored, err := st.Update(ctx, tk.ID, 3, func(t ticket.Ticket) (ticket.Ticket, error) { return t.Reserve("o1", &seen) })
		if err != nil || stored || got.OrderID != "" || got.Version != 1 || !got.Refused("o1") || !got.Released("o1") {
			t.Fatalf("Update(Reserve) = %+v, %t, %v; want o1 refused at version 1, free", got, stored, err)
		}
	}
	refusals := pending[events.TicketRefused](t, outbox(t, st, tk.ID))
	if len(refusals) != 1 || refusals[0] != (events.TicketRefused{ID: tk.ID, Version: 1, OrderID: "o1", Reason: events.RefusedTicketChanged}) {
		t.Fatalf("ticket.refused events = %+v, want one for o1 at version 1", refusals)
	}
	seen = 1
	if got, ok, err := st.ReserveFree(ctx, tk.ID, "o2", &seen); err != nil || !ok || got.OrderID != "o2" || got.Version != 2 {
		t.Fatalf("ReserveFree by an order that saw the edit = %+v, %t, %v; want held by o2 at version 2", got, ok, err)
	}
}

func TestApplyRecordsReleaseWithoutVersion(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	tk := create(t, st, "Concert")

	if stored, err := st.Apply(ctx, tk, tk); err != nil || stored {
		t.Fatalf("Apply of no change = %t, %v; want no new version", stored, err)
	}
	if stored, err := st.Apply(ctx, tk, tk.Release("o9")); err != nil || stored {
		t.Fatalf("Apply of a recorded release = %t, %v; want a write without a new version", stored, err)
	}
	got, err := st.Get(ctx, tk.ID)
	if err != nil || got.Version != 0 || !slices.Equal(got.ReleasedOrders, []string{"o9"}) {
		t.Fatalf("Get = %+v, %v; want version 0 with o9 released", got, err)
	}
	if envs := outbox(t, st, tk.ID); len(envs) != 1 {
		t.Errorf("outbox = %+v, want only ticket.created", envs)
	}
}

// order.cancelled for an order that does not hold the ticket yet is recorded without a new
// version; its order.created, computed from an earlier read, must then lose the race.
func TestReserveLosesToReleaseOfTheSameOrder(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	tk := create(t, st, "Concert")

	reserved, err := tk.Reserve("o1", nil) // computed from the read at version 0
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, tk, tk.Release("o1")); err != nil { // lands first, version still 0
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, tk, reserved); !errors.Is(err, store.ErrLostRace) {
		t.Fatalf("Apply of the stale reservation = %v, want ErrLostRace", err)
	}
	// Read again: the order is released, nothing to do.
	got, stored, err := st.Update(ctx, tk.ID, 3, func(t ticket.Ticket) (ticket.Ticket, error) { return t.Reserve("o1", nil) })
	if err != nil || stored || got.OrderID != "" || got.Version != 0 {
		t.Fatalf("Update = %+v, stored %t, %v; want the free ticket, no new version", got, stored, err)
	}
}

func TestConcurrentUpdatesGiveDistinctVersions(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	tk := create(t, st, "Concert")

	const writers = 10
	var wg sync.WaitGroup
	versions := make(chan int64, writers)
	for i := range writers {
		wg.Go(func() {
			got, stored, err := st.Update(ctx, tk.ID, 50, func(t ticket.Ticket) (ticket.Ticket, error) {
				return t.Edit("u1", ticket.Details{Title: "Concert", PriceCents: int64(100 + i)})
			})
			if err != nil || !stored {
				t.Errorf("Update = stored %t, %v", stored, err)
				return
			}
			versions <- got.Version
		})
	}
	wg.Wait()
	close(versions)
	var got []int64
	for v := range versions {
		got = append(got, v)
	}
	slices.Sort(got)
	var evs []int64
	for _, e := range updates(t, outbox(t, st, tk.ID)) {
		evs = append(evs, e.Version)
	}
	slices.Sort(evs)
	want := make([]int64, writers)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if !slices.Equal(got, want) || !slices.Equal(evs, want) {
		t.Errorf("versions returned %v and in the outbox %v, want %v", got, evs, want)
	}
}

func TestUpdateReturnsTheChangeError(t *testing.T) {
	st := newStore(t)
	tk := create(t, st, "Concert")
	boom := errors.New("boom")
	if _, _, err := st.Update(t.Context(), tk.ID, 3, func(ticket.Ticket) (ticket.Ticket, error) { return tk, boom }); !errors.Is(err, boom) {
		t.Errorf("Update error = %v, want %v", err, boom)
	}
	if _, _, err := st.Update(t.Context(), bson.NewObjectID().Hex(), 3, func(t ticket.Ticket) (ticket.Ticket, error) { return t, nil }); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("Update of an unknown ticket: %v, want ErrNotFound", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := st.Update(ctx, tk.ID, 3, func(t ticket.Ticket) (ticket.Ticket, error) { return t, nil }); err == nil {
		t.Error("Update with a cancelled context succeeded")
	}
}

// Every query the store makes is answered from an index (checked on MongoDB and on the
// stand-in's PostgreSQL backend; `make test` runs the store's tests on both stand-in backends).
func TestEveryQueryUsesAnIndex(t *testing.T) {
	testkit.EveryQueryIndexed(t, func(db *mongo.Database) *store.Store { return store.New(db, nil, nil) }, func(ctx context.Context, st *store.Store) {
		tk := create(t, st, "Concert")
		if _, err := st.Get(ctx, tk.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.Update(ctx, tk.ID, 3, func(t ticket.Ticket) (ticket.Ticket, error) { return t.Reserve("o1", nil) }); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.Update(ctx, tk.ID, 3, func(t ticket.Ticket) (ticket.Ticket, error) { return t.Release("o1"), nil }); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.Update(ctx, tk.ID, 3, func(t ticket.Ticket) (ticket.Ticket, error) { return t.Reserve("o2", nil) }); err != nil {
			t.Fatal(err) // o2 reserves after o1 was released: the write checks releasedOrders
		}
		if _, _, err := st.ReleaseHeld(ctx, tk.ID, "o2"); err != nil {
			t.Fatal(err)
		}
		for _, after := range []string{"", tk.ID} {
			if _, err := st.ListFree(ctx, "", after, 10); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestReleasedOrdersStayBounded: releases written at once by concurrent handlers are none of
// them lost (a write that missed another release reads again), and a ticket cancelled by many
// orders keeps only the latest ticket.KeepReleased of them.
func TestReleasedOrdersStayBounded(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	tk := create(t, st, "Popular")
	release := func(i int) error {
		o := fmt.Sprintf("o%03d", i)
		_, _, err := st.Update(ctx, tk.ID, 200, func(t ticket.Ticket) (ticket.Ticket, error) { return t.Release(o), nil })
		return err
	}
	const concurrent, workers = 80, 4
	var wg sync.WaitGroup
	errc := make(chan error, concurrent)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < concurrent; i += workers {
				if err := release(i); err != nil {
					errc <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range concurrent {
		if !got.Released(fmt.Sprintf("o%03d", i)) {
			t.Fatalf("concurrent release of o%03d lost (%d kept)", i, len(got.ReleasedOrders))
		}
	}

	// Then each order holds the ticket and is released as the service does: by the one
	// conditional write first, by reading and deciding when it misses, as it does once the
	// list is full (the read-decide path trims it).
	const total = ticket.KeepReleased + 40
	read := 0
	for i := concurrent; i < total; i++ {
		o := fmt.Sprintf("o%03d", i)
		if _, ok, err := st.ReserveFree(ctx, tk.ID, o, nil); err != nil || !ok {
			t.Fatalf("ReserveFree(%s) = %t, %v", o, ok, err)
		}
		_, ok, err := st.ReleaseHeld(ctx, tk.ID, o)
		if err == nil && !ok {
			read++
			err = release(i)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if want := total - ticket.KeepReleased; read != want {
		t.Errorf("%d releases read the ticket, want %d (those with the list full)", read, want)
	}
	if got, err = st.Get(ctx, tk.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(got.ReleasedOrders); n != ticket.KeepReleased {
		t.Fatalf("%d released orders kept after %d releases, want %d", n, total, ticket.KeepReleased)
	}
	for i := concurrent; i < total; i++ {
		if !got.Released(fmt.Sprintf("o%03d", i)) {
			t.Fatalf("a recent release, o%03d, is not kept", i)
		}
	}
	if got.ReleasedOrders[len(got.ReleasedOrders)-1] != fmt.Sprintf("o%03d", total-1) {
		t.Fatalf("the latest release is not last: %v", got.ReleasedOrders[len(got.ReleasedOrders)-3:])
	}
	// A late order.created of a recent one is still refused.
	if _, ok, err := st.ReserveFree(ctx, tk.ID, fmt.Sprintf("o%03d", total-2), nil); err != nil || ok {
		t.Fatalf("ReserveFree for a recently released order = %t, %v; want refused", ok, err)
	}
}

// The listing reads with a read preference other than primary (as a replica set's
// secondaryPreferred with a max staleness) work on the store the tests run on, and the
// reads that decide are unaffected.
func TestListingReadsElsewhere(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	rp, err := mongodb.ListingReads{Mode: "secondaryPreferred", MaxStaleness: 90 * time.Second}.ReadPref()
	if err != nil {
		t.Fatal(err)
	}
	st.SetListingReads(rp)
	tk := create(t, st, "Concert")
	if got, err := st.Show(ctx, tk.ID); err != nil || got.ID != tk.ID {
		t.Fatalf("Show = %+v, %v", got, err)
	}
	if got, err := st.ListFree(ctx, "", "", 10); err != nil || len(got) != 1 || got[0].ID != tk.ID {
		t.Fatalf("ListFree = %+v, %v", got, err)
	}
	if got, err := st.Get(ctx, tk.ID); err != nil || got.ID != tk.ID {
		t.Fatalf("Get = %+v, %v", got, err)
	}
}

package store_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"ticketing/common/testkit"
	"ticketing/services/queue/internal/line"
	"ticketing/services/queue/internal/store"
)

func newStore(t *testing.T) (*store.Store, context.Context) {
	t.Helper()
	return store.New(testkit.Redis(t).Client(), "test:"), context.Background()
}

// spearman is the rank correlation of the sequence 0..n-1 with order (a permutation).
func spearman(order []int) float64 {
	n := float64(len(order))
	var d2 float64
	for i, v := range order {
		d := float64(i - v)
		d2 += d * d
	}
	return 1 - 6*d2/(n*(n*n-1))
}

// Early joiners stand in a random order once the sale opens (their join order and line order
// are uncorrelated), all ahead of the late joiners, who stand in join order. Joining twice
// changes nothing.
func TestLineOrder(t *testing.T) {
	st, ctx := newStore(t)
	open := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	sale := line.Sale{EventID: "e1", OnSaleAt: open, AdmitPerMinute: 60, TicketCount: 1000}
	if err := st.AddSale(ctx, sale); err != nil {
		t.Fatal(err)
	}
	if err := st.Join(ctx, "nope", "u", open); !errors.Is(err, line.ErrUnknownEvent) {
		t.Fatalf("unknown event: %v", err)
	}
	const early, late = 300, 100
	for i := range early {
		if err := st.Join(ctx, "e1", fmt.Sprintf("early%03d", i), open.Add(-time.Minute+time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range late {
		if err := st.Join(ctx, "e1", fmt.Sprintf("late%03d", i), open.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	// Joining again keeps the place.
	before, _, _ := st.Entry(ctx, "e1", "early007", 1000)
	if err := st.Join(ctx, "e1", "early007", open.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if again, _, _ := st.Entry(ctx, "e1", "early007", 1000); again.Rank != before.Rank {
		t.Errorf("joining again moved from %d to %d", before.Rank, again.Rank)
	}
	earlyOrder := make([]int, 0, early)
	rankOf := map[string]int64{}
	for i := range early {
		e, _, err := st.Entry(ctx, "e1", fmt.Sprintf("early%03d", i), 1000)
		if err != nil || e.Rank < 0 || e.Rank >= early {
			t.Fatalf("early joiner %d at rank %d (%v), want among the first %d", i, e.Rank, err, early)
		}
		rankOf[fmt.Sprint(i)] = e.Rank
		earlyOrder = append(earlyOrder, int(e.Rank))
	}
	for i := range late {
		e, _, _ := st.Entry(ctx, "e1", fmt.Sprintf("late%03d", i), 1000)
		if e.Rank != int64(early+i) {
			t.Errorf("late joiner %d at rank %d, want %d", i, e.Rank, early+i)
		}
	}
	rho := spearman(earlyOrder)
	t.Logf("rank correlation of the early joiners' join order with their place: %.3f (late joiners: 1)", rho)
	// With 300 joiners, |rho| > 0.25 has a probability below 1e-5 for a random order.
	if math.Abs(rho) > 0.25 {
		t.Errorf("early joiners' order correlates with their join order: %.3f", rho)
	}
}

// openWithLine adds sale and has n buyers (prefix and a number) join its line a second
// before it opens.
func openWithLine(t *testing.T, st *store.Store, sale line.Sale, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	if err := st.AddSale(ctx, sale); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := st.Join(ctx, sale.EventID, fmt.Sprintf("%s%04d", prefix, i), sale.OnSaleAt.Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
	}
}

// Admissions are spread at the rate (never more than the burst at once), stop when the
// admitted buyers who have not ordered match the free tickets, resume when a pass lapses or an
// order is cancelled, and never before the sale.
func TestAdmit(t *testing.T) {
	st, ctx := newStore(t)
	open := time.Now().Truncate(time.Millisecond)
	sale := line.Sale{EventID: "e2", OnSaleAt: open, AdmitPerMinute: 60, TicketCount: 100}
	openWithLine(t, st, sale, "u", 200)
	const tick = 250 * time.Millisecond
	ttl := 10 * time.Minute
	if n, _ := st.Admit(ctx, sale, open.Add(-time.Millisecond), tick, ttl); n != 0 {
		t.Fatalf("%d admitted before the sale", n)
	}
	total := 0
	for at := time.Duration(0); at <= 30*time.Second; at += tick {
		n, err := st.Admit(ctx, sale, open.Add(at), tick, ttl)
		if err != nil {
			t.Fatal(err)
		}
		if n > 1 {
			t.Fatalf("%d admitted in one tick at 60/min", n)
		}
		total += n
	}
	if total < 29 || total > 31 {
		t.Errorf("%d admitted in 30 s at 60/min", total)
	}

	// Rounds do not run exactly on their tick on a busy machine: one tick 10 ms late, the next
	// 10 ms early, and every 20th round a whole tick late (the ticker dropped one). The rate
	// holds all the same: what a late round earned is not lost to the cap.
	fast := line.Sale{EventID: "e4", OnSaleAt: open, AdmitPerMinute: 1200, TicketCount: 10_000}
	openWithLine(t, st, fast, "f", 1000)
	total, at := 0, time.Duration(0)
	for i := 0; at < 30*time.Second; i++ {
		switch {
		case i%20 == 19:
			at += 2 * tick
		case i%2 == 0:
			at += tick + 10*time.Millisecond
		default:
			at += tick - 10*time.Millisecond
		}
		n, err := st.Admit(ctx, fast, open.Add(at), tick, ttl)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if want := int(at.Seconds() * 20); total < want-1 {
		t.Errorf("%d admitted in %v at 1200/min with rounds off their tick, want %d", total, at, want)
	}

	// Room: a sale of 3 tickets admits 3 buyers, then none until one orders and another's
	// order is cancelled, or a pass lapses.
	small := line.Sale{EventID: "e3", OnSaleAt: open, AdmitPerMinute: 6000, TicketCount: 3}
	openWithLine(t, st, small, "b", 10)
	admitted := func(at time.Duration) int {
		n := 0
		for range 20 {
			k, err := st.Admit(ctx, small, open.Add(at), tick, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			n += k
			at += tick
		}
		return n
	}
	if n := admitted(0); n != 3 {
		t.Fatalf("%d admitted for 3 tickets", n)
	}
	var first string
	for i := range 10 {
		if e, _, _ := st.Entry(ctx, "e3", fmt.Sprintf("b%04d", i), 3); !e.PassExpires.IsZero() {
			first = fmt.Sprintf("b%04d", i)
			break
		}
	}
	// The admitted buyer orders: the room stays full (the ticket is held).
	_ = st.ApplyOrder(ctx, store.OrderCreated, "e3", "t1", "o1", first)
	if n := admitted(10 * time.Second); n != 0 {
		t.Fatalf("%d admitted while every ticket is held or promised", n)
	}
	if _, avail, _ := st.Entry(ctx, "e3", "b0009", 3); avail != 2 {
		t.Errorf("available %d, want 2", avail)
	}
	// A late order.created of a cancelled order holds nothing; the cancel frees one room.
	_ = st.ApplyOrder(ctx, store.OrderCancelled, "e3", "t1", "o1", "")
	_ = st.ApplyOrder(ctx, store.OrderCreated, "e3", "t1", "o1", first)
	if _, avail, _ := st.Entry(ctx, "e3", "b0009", 3); avail != 3 {
		t.Errorf("available %d after the cancel, want 3", avail)
	}
	if n := admitted(20 * time.Second); n != 1 {
		t.Fatalf("%d admitted after a cancel, want 1", n)
	}
	// Passes lapse after a minute: their room is free again.
	if n := admitted(2 * time.Minute); n != 3 {
		t.Fatalf("%d admitted after the passes lapsed, want 3", n)
	}
}

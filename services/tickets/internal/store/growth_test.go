package store_test

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/standin"
	"ticketing/common/testkit"
	"ticketing/services/tickets/internal/ticket"
)

// The cost of the tickets service's requests stays flat as the collection grows: a ticket
// read and order.created's reservation take, at best of 21, at most 3 times as long at 2,000
// tickets as at 200 (cost growing with the collection would make it about 10). Checked on the
// PostgreSQL stand-in and a real MongoDB (the second pass of make test); skipped on the SQLite
// backend, which reads the whole collection for any query but a lookup by _id (there the
// listing and the reservation grow about tenfold and fivefold, and the test takes minutes).
//
// The listing's first page is measured and logged, not checked: on the stand-in it grows with
// the free tickets (x6 to x10 measured), because FerretDB pushes down no sort but $natural, so it
// reads and sorts every free ticket to return 50. A listing cache is what keeps it flat there.
func TestCostFlatAsTicketsGrow(t *testing.T) {
	if os.Getenv(testkit.EnvMongoURI) == "" && os.Getenv(testkit.EnvMongoBackend) != standin.BackendPostgreSQL {
		t.Skipf("growth is checked on the PostgreSQL stand-in (%s=postgresql) or a real MongoDB", testkit.EnvMongoBackend)
	}
	ctx := t.Context()
	st := newStore(t)
	const reps = 21
	var created []ticket.Ticket
	grow := func(n int) {
		t.Helper()
		var docs []any
		for len(created) < n {
			tk := ticket.New(bson.NewObjectID().Hex(), "seller", ticket.Details{Title: "Concert", PriceCents: 2010}, time.Now())
			created = append(created, tk)
			docs = append(docs, bson.M{"_id": tk.ID, "title": tk.Title, "priceCents": tk.PriceCents, "userId": tk.UserID,
				"version": int64(0), "orderId": "", "sold": false, "releasedOrders": bson.A{}, "createdAt": tk.CreatedAt,
				"outbox": bson.A{}, "outboxPending": false})
		}
		for chunk := range slices.Chunk(docs, 500) {
			if _, err := st.Collection().InsertMany(ctx, chunk); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The fastest of reps, not the median: on a loaded machine the median of a few
	// milliseconds moves severalfold between two measurements of the same thing.
	best := func(op func(i int) error) time.Duration {
		t.Helper()
		ds := make([]time.Duration, reps)
		for i := range ds {
			start := time.Now()
			if err := op(i); err != nil {
				t.Fatal(err)
			}
			ds[i] = time.Since(start)
		}
		return slices.Min(ds)
	}
	reserved := 0
	measure := func() map[string]time.Duration {
		return map[string]time.Duration{
			"list": best(func(int) error { _, err := st.ListFree(ctx, "", "", 50); return err }),
			"get":  best(func(i int) error { _, err := st.Get(ctx, created[i*7%len(created)].ID); return err }),
			"reserve": best(func(int) error {
				tk := created[reserved]
				reserved++
				_, ok, err := st.ReserveFree(ctx, tk.ID, fmt.Sprintf("order%d", reserved), nil)
				if err == nil && !ok {
					err = fmt.Errorf("ticket %s not reserved", tk.ID)
				}
				return err
			}),
		}
	}
	grow(200)
	small := measure()
	grow(2000)
	large := measure()
	for _, op := range []string{"list", "get", "reserve"} {
		ratio := float64(large[op]) / float64(max(small[op], time.Microsecond))
		t.Logf("%s: %s at 200 tickets, %s at 2,000: x%.1f", op, small[op], large[op], ratio)
		if op != "list" && ratio > 3 {
			t.Errorf("%s costs x%.1f at 2,000 tickets against 200, want at most x3", op, ratio)
		}
	}
}

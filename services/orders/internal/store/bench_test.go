package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"ticketing/common/testkit"
	"ticketing/services/orders/internal/order"
	"ticketing/services/orders/internal/store"
)

// BenchmarkHold measures the hold's conditional write (store.Hold), 16 callers at once,
// through whichever MongoDB the test kit uses (TESTKIT_MONGO_BACKEND=postgresql for the
// load-test backend):
//
//   - free: each hold takes a different free ticket (what distinct does; one findAndModify);
//
//   - taken: every hold asks for one of 20 tickets another order holds (a rush loser: one
//     read, the replica having seen the ticket held; the first miss costs the write too).
//
//     go test -run '^$' -bench Hold -benchtime 400x ./internal/store/
func BenchmarkHold(b *testing.B) {
	const callers = 16
	for _, taken := range []bool{false, true} {
		name := "free"
		if taken {
			name = "taken"
		}
		b.Run(name, func(b *testing.B) {
			ctx := b.Context()
			st := store.New(testkit.Mongo(b), nil)
			if err := st.EnsureIndexes(ctx); err != nil {
				b.Fatal(err)
			}
			n := b.N
			if taken {
				n = 20 // the rush's tickets, all held already
			}
			ids := make([]string, n)
			now := time.Now().UTC()
			for i := range ids {
				ids[i] = fmt.Sprintf("%024x", i+1)
				if _, err := st.InsertTicket(ctx, order.Ticket{ID: ids[i], Title: "Concert", PriceCents: 2010}); err != nil {
					b.Fatal(err)
				}
				if taken {
					if _, err := st.Hold(ctx, ids[i], "", order.Hold{OrderID: "winner", Until: now.Add(time.Hour)}, now); err != nil {
						b.Fatal(err)
					}
				}
			}
			testkit.Spread(b, callers, func(_, i int) bool {
				_, err := st.Hold(ctx, ids[i%n], "", order.Hold{OrderID: store.NewID(), Until: now.Add(time.Hour)}, now)
				if (taken && !errors.Is(err, order.ErrTicketReserved)) || (!taken && err != nil) {
					b.Errorf("hold: %v", err)
					return false
				}
				return true
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "holds/s")
		})
	}
}

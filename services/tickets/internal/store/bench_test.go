package store_test

import (
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/testkit"
	"ticketing/services/tickets/internal/store"
	"ticketing/services/tickets/internal/ticket"
)

// BenchmarkReserve measures the write order.created causes here: read the ticket, then one
// conditional update on its version that sets the order and pushes ticket.updated to the
// outbox (store.Update with ticket.Reserve), from 8 concurrent handlers on distinct
// tickets (created before the timer starts), through whichever MongoDB the test kit uses
// (TESTKIT_MONGO_BACKEND=postgresql for the load-test backend).
//
//	go test -run '^$' -bench Reserve -benchtime 400x ./internal/store/
func BenchmarkReserve(b *testing.B) {
	const workers = 8
	ctx := b.Context()
	st := store.New(testkit.Mongo(b), nil, nil)
	if err := st.EnsureIndexes(ctx); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, b.N)
	for i := range ids {
		tk := ticket.New(bson.NewObjectID().Hex(), "seller", ticket.Details{Title: "Concert", PriceCents: 2010}, time.Now())
		if err := st.Create(ctx, tk); err != nil {
			b.Fatal(err)
		}
		ids[i] = tk.ID
	}
	testkit.Spread(b, workers, func(_, i int) bool {
		order := fmt.Sprintf("order%07d", i)
		_, stored, err := st.Update(ctx, ids[i], 5, func(t ticket.Ticket) (ticket.Ticket, error) { return t.Reserve(order, nil) })
		if err != nil || !stored {
			b.Errorf("reserve %s: stored %t, %v", ids[i], stored, err)
			return false
		}
		return true
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reserves/s")
}

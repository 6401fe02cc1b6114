package orders_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/orders/internal/store"
)

// BenchmarkCreateOrder measures POST /api/orders over HTTP against one orders instance, with
// 32 concurrent clients each ordering distinct tickets (b.N tickets, replicated through
// ticket.created before the timer starts). It reports requests per second and the p50 and
// p99 latency. The MongoDB is the stand-in of the test kit: SQLite by default,
// TESTKIT_MONGO_BACKEND=postgresql for the PostgreSQL backend, or MONGODB_URI.
//
//	go test -run '^$' -bench BenchmarkCreateOrder -benchtime 400x .
func BenchmarkCreateOrder(b *testing.B) {
	const clients = 32
	h := newHarness(b, map[string]string{"LOG_LEVEL": "error"})
	base := h.serve()
	tokens := make([]string, clients)
	for i := range tokens {
		tokens[i] = testkit.Token(b, fmt.Sprintf("bench%02d", i), fmt.Sprintf("bench%02d@example.com", i))
	}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("%024x", i+1)
		h.publish(events.TicketCreated{ID: ids[i], Version: 0, Title: "Bench", PriceCents: 1500, UserID: "seller"})
	}
	testkit.Eventually(b, 5*time.Minute, "tickets replicated", func() bool {
		n, err := h.db.Collection(store.TicketsCollection).CountDocuments(context.Background(), bson.M{})
		return err == nil && n == int64(b.N)
	})

	latencies := make([]time.Duration, b.N)
	var failures atomic.Int64
	start := time.Now()
	testkit.Spread(b, clients, func(c, i int) bool {
		t0 := time.Now()
		r := testkit.Call(b, "POST", base+"/api/orders", tokens[c], map[string]string{"ticketId": ids[i]})
		latencies[i] = time.Since(t0)
		if r.Status != http.StatusCreated {
			failures.Add(1)
		}
		return true
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d of %d orders failed", n, b.N)
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op") // wall time per order says nothing with 32 clients; req/s does
}

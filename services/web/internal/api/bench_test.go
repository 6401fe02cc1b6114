package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// BenchmarkHome: the storefront's own cost of GET / (the API call to an in-memory fake with
// 1,000 tickets, and rendering the first page); p99 per page. The dev stack's number, with
// the real API behind, is infra/devstack's BenchmarkStorefrontHome.
func BenchmarkHome(b *testing.B) {
	fake, h := storefront(b)
	for i := range 1000 {
		t := ticketOf(fmt.Sprintf("t%d", i), "u1")
		t.Title = fmt.Sprintf("Ticket number %d", i)
		fake.tickets = append(fake.tickets, t)
	}
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET /: %d", rec.Code)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

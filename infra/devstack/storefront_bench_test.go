package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"ticketing/common/testkit"
)

// BenchmarkStorefrontHome: GET / of the storefront through the gateway, on the dev stack
// (single process) with 1,000 tickets listed; reports the p50 and p99 latency of one page,
// and, for comparison, the p99 of the API call the page makes (GET /api/tickets?limit=24).
// The MongoDB is testkit's: TESTKIT_MONGO_BACKEND=postgresql for the bench's backend.
//
//	go test -run '^$' -bench BenchmarkStorefrontHome -benchtime 2000x ./infra/devstack
func BenchmarkStorefrontHome(b *testing.B) {
	rs := testkit.Redis(b)
	s := startStack(b, Options{
		RedisAddr: rs.Addr, RedisDB: rs.DB, MongoURI: testkit.MongoURI(b), LogLevel: "error", Log: slog.New(slog.DiscardHandler),
	})
	c := newClient(b, s.URL)
	seller := c.signup("bench-seller@example.com")
	const tickets = 1000
	var wg sync.WaitGroup
	work := make(chan int)
	began := time.Now()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				c.createTicket(seller, fmt.Sprintf("Bench ticket %d", i), 10+float64(i%90))
			}
		}()
	}
	for i := range tickets {
		work <- i
	}
	close(work)
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	b.Logf("listed %d tickets in %s", tickets, time.Since(began).Round(time.Millisecond))

	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (time.Duration, error) {
		start := time.Now()
		resp, err := client.Get(s.URL + path)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET %s: %d", path, resp.StatusCode)
		}
		return time.Since(start), nil
	}
	for range 50 { // warm up connections and caches
		if _, err := get("/"); err != nil {
			b.Fatal(err)
		}
	}
	var page, api []time.Duration
	b.ResetTimer()
	for b.Loop() {
		d, err := get("/")
		if err != nil {
			b.Fatal(err)
		}
		page = append(page, d)
	}
	b.StopTimer()
	for range min(len(page), 500) {
		d, err := get("/api/tickets?limit=24")
		if err != nil {
			b.Fatal(err)
		}
		api = append(api, d)
	}
	pct := func(lat []time.Duration, p float64) float64 {
		slices.Sort(lat)
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(page, 0.50), "p50-ms")
	b.ReportMetric(pct(page, 0.99), "p99-ms")
	b.ReportMetric(pct(api, 0.99), "api-p99-ms")
}

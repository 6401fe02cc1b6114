package expiration_test

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/services/expiration"
)

// BenchmarkExpire10000Orders publishes 10,000 order.created, each expiring 5 s after it was
// published, and waits for every expiration.completed. It reports the scheduling throughput
// (order.created published and turned into asynq tasks per second, end to end through
// JetStream and the service's listener) and the lateness of expiration.completed after
// expiresAt (JetStream's storage time of the event). Run it with:
//
//	go test -run '^$' -bench Expire10000 -benchtime 1x .
//
// EXPIRATION_BENCH_CONCURRENCY sets ASYNQ_CONCURRENCY (the service's default otherwise).
// EXPIRATION_BENCH_SPREAD (a duration, 0 by default) paces the publishing over that time
// instead of publishing as fast as possible, for a steady load instead of a burst.
func BenchmarkExpire10000Orders(b *testing.B) {
	const n = 10_000
	const ahead = 5 * time.Second
	h := start(b, func(env map[string]string, _ *expiration.Config) {
		if c := os.Getenv("EXPIRATION_BENCH_CONCURRENCY"); c != "" {
			env["ASYNQ_CONCURRENCY"] = c
		}
	})
	ctx := context.Background()
	var spread time.Duration
	if s := os.Getenv("EXPIRATION_BENCH_SPREAD"); s != "" {
		var err error
		if spread, err = time.ParseDuration(s); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("ASYNQ_CONCURRENCY %d, publishing spread over %v", h.cfg.Concurrency, spread)

	for b.Loop() {
		ids := make([]string, n)
		due := make(map[string]time.Time, n)
		before := h.expired.total()
		begin := time.Now()
		batch := 500
		if spread > 0 {
			batch = 50
		}
		for i := 0; i < n; i += batch {
			if spread > 0 {
				time.Sleep(time.Until(begin.Add(spread * time.Duration(i) / n))) // on purpose: orders spread over time
			}
			envs := make([]bus.Envelope, 0, batch)
			for j := i; j < i+batch; j++ {
				ids[j] = newOrderID()
				expiresAt := time.Now().Add(ahead)
				due[ids[j]] = expiresAt
				env, err := bus.NewEnvelope(ctx, events.OrderCreated{
					ID: ids[j], Status: "created", UserID: "u1", ExpiresAt: expiresAt,
					Ticket: events.TicketRef{ID: "t-" + ids[j], PriceCents: 1000},
				})
				if err != nil {
					b.Fatal(err)
				}
				envs = append(envs, env)
			}
			if _, err := h.bus.Conn.PublishAll(ctx, envs); err != nil {
				b.Fatal(err)
			}
		}
		published := time.Since(begin)
		h.handled("order.created")
		scheduling := time.Since(begin)
		if info := h.queueInfo(); info.Scheduled+info.Pending+info.Active+info.Completed < n {
			b.Fatalf("only %d tasks after scheduling", info.Scheduled+info.Pending+info.Active+info.Completed)
		}

		deadline := time.Now().Add(ahead + 2*time.Minute)
		for h.expired.total()-before < n {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d orders expired", h.expired.total()-before, n)
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
		var late []time.Duration
		early := 0
		for _, id := range ids {
			got := h.expired.of(id)
			if len(got) != 1 {
				b.Fatalf("order %s: %d expiration.completed", id, len(got))
			}
			d := got[0].Stored.Sub(due[id])
			if d < 0 {
				early++
			}
			late = append(late, d)
		}
		if early > 0 {
			b.Errorf("%d orders expired before their expiresAt", early)
		}
		slices.Sort(late)
		pct := func(p float64) time.Duration { return late[int(p*float64(len(late)-1))] }
		b.ReportMetric(float64(n)/published.Seconds(), "published/s")
		b.ReportMetric(float64(n)/scheduling.Seconds(), "scheduled/s")
		b.ReportMetric(float64(pct(0.50).Milliseconds()), "p50_late_ms")
		b.ReportMetric(float64(pct(0.99).Milliseconds()), "p99_late_ms")
		b.ReportMetric(float64(late[len(late)-1].Milliseconds()), "max_late_ms")
		b.Logf("%d orders: published in %v, scheduled in %v; lateness p50 %v p90 %v p99 %v max %v; %d early",
			n, published.Round(time.Millisecond), scheduling.Round(time.Millisecond),
			pct(0.5).Round(time.Millisecond), pct(0.9).Round(time.Millisecond), pct(0.99).Round(time.Millisecond),
			late[len(late)-1].Round(time.Millisecond), early)
	}
}

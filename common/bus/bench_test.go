package bus_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/testkit"
)

// BenchmarkRoundTrip publishes typed events and waits for the listener to handle each: the
// time from Publish to the handler, through JetStream's file storage and the durable consumer.
func BenchmarkRoundTrip(b *testing.B) {
	url := testkit.NATS(b)
	c := connect(b, url)
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	done := make(chan struct{}, 1024)
	l, err := bus.Listen(context.Background(), c, "bench", func(ctx context.Context, e events.TicketCreated) error {
		mu.Lock()
		lat = append(lat, time.Since(sent[e.ID]))
		mu.Unlock()
		done <- struct{}{}
		return nil
	}, bus.ListenOptions{Logger: quiet, Concurrency: 32})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Stop(context.Background())
	const inflight = 64
	sem := make(chan struct{}, inflight)
	go func() {
		for range done {
			<-sem
		}
	}()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		sem <- struct{}{}
		id := fmt.Sprint("t", i)
		mu.Lock()
		sent[id] = time.Now()
		mu.Unlock()
		if err := bus.Publish(context.Background(), c, "", ticket(id)); err != nil {
			b.Fatal(err)
		}
	}
	for range inflight {
		sem <- struct{}{}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

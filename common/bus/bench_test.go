package bus_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

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

// BenchmarkOutboxRelay measures the relay's normal path: b.N documents each hold one
// pending event (written before the timer starts); the relay is told about each
// (Notify with the event, as a service does after its write) and the timer stops once
// JetStream has every event and every outbox is empty and unflagged. The relay publishes
// what is waiting in batches, asynchronously, and removes a batch's events in one write
// command, through whichever MongoDB the test kit uses (the SQLite stand-in by default,
// TESTKIT_MONGO_BACKEND=postgresql, or MONGODB_URI).
//
//	go test -run '^$' -bench OutboxRelay -benchtime 500x ./bus/
func BenchmarkOutboxRelay(b *testing.B) {
	ctx := context.Background()
	c := connect(b, testkit.NATS(b))
	coll := testkit.Mongo(b).Collection("relaybench")
	ids := make([]string, b.N)
	envs := make([]bus.Envelope, b.N)
	docs := make([]any, b.N)
	for i := range b.N {
		ids[i] = fmt.Sprintf("t%07d", i)
		e, err := bus.NewEnvelope(ctx, ticket(ids[i]))
		if err != nil {
			b.Fatal(err)
		}
		envs[i] = e
		docs[i] = thing{ID: ids[i], Outbox: bus.NewOutbox(e)}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		b.Fatal(err)
	}
	stream, err := c.JS.Stream(ctx, events.StreamTickets)
	if err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet, PollInterval: time.Hour})
	done := make(chan error, 1)

	b.ResetTimer()
	go func() { done <- r.Run(runCtx) }()
	for i, id := range ids {
		r.Notify(id, envs[i])
	}
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if info.State.Msgs >= uint64(b.N) {
			break
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	for {
		n, err := coll.CountDocuments(ctx, bson.M{bus.OutboxPendingField: true})
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkOutboxPollIdle measures one poll of the relay (Flush) over a collection whose
// documents have nothing pending: the work each replica's relay repeats every
// PollInterval (5s by default) for ever. It finds pending documents by their indexed
// outboxPending flag; the cost should not grow with the number of documents.
//
//	go test -run '^$' -bench OutboxPollIdle -benchtime 20x ./bus/
func BenchmarkOutboxPollIdle(b *testing.B) {
	for _, n := range []int{100, 1000, 4000} {
		b.Run(fmt.Sprintf("docs=%d", n), func(b *testing.B) {
			ctx := context.Background()
			c := connect(b, testkit.NATS(b))
			coll := testkit.Mongo(b).Collection(fmt.Sprintf("pollbench%d", n))
			docs := make([]any, n)
			for i := range n {
				docs[i] = bson.M{"_id": fmt.Sprintf("t%07d", i), "title": "concert", "priceCents": 2000,
					"version": int64(3), bus.OutboxField: []bus.Envelope{}, bus.OutboxPendingField: false}
			}
			if _, err := coll.InsertMany(ctx, docs); err != nil {
				b.Fatal(err)
			}
			r := bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet})
			if err := r.CreateIndex(ctx); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := r.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package bus_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/meta"
	"ticketing/common/testkit"
)

// An event carries the trace of the span it was made in: publish is a producer span under
// that span, and handling is a consumer span under the producer span, whose context the
// handler gets.
func TestEventsCarryTheTrace(t *testing.T) {
	spans := testkit.Spans(t)
	c := connect(t, testkit.NATS(t))
	var mu sync.Mutex
	seen := map[string]string{} // ticket id -> trace id in the handler
	listen(t, c, func(ctx context.Context, e events.TicketCreated) error {
		mu.Lock()
		seen[e.ID] = meta.TraceID(ctx)
		mu.Unlock()
		return nil
	}, bus.ListenOptions{Logger: quiet})

	ctx, root := otel.Tracer("test").Start(context.Background(), "request")
	if err := bus.Publish(ctx, c, "", ticket("t1")); err != nil { // Publish
		t.Fatal(err)
	}
	var envs []bus.Envelope
	for _, id := range []string{"t2", "t3"} {
		env, err := bus.NewEnvelope(ctx, ticket(id))
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env)
	}
	root.End()
	if n, err := c.PublishAll(context.Background(), envs); n != 2 || err != nil { // as the outbox relay does
		t.Fatalf("PublishAll: %d, %v", n, err)
	}
	consumed := func() int { // a consumer span ends after its handler returned
		n := 0
		for _, s := range spans.GetSpans() {
			if s.SpanKind == trace.SpanKindConsumer {
				n++
			}
		}
		return n
	}
	testkit.Eventually(t, 30*time.Second, "handled", func() bool { return consumed() == 3 })
	mu.Lock()
	defer mu.Unlock()

	traceID := root.SpanContext().TraceID()
	for id, got := range seen {
		if got != traceID.String() {
			t.Errorf("handler of %s sees trace %q, want %s", id, got, traceID)
		}
	}
	producers := map[string]tracetest.SpanStub{} // span id -> span
	var consumers []tracetest.SpanStub
	for _, s := range spans.GetSpans() {
		switch s.SpanKind {
		case trace.SpanKindProducer:
			producers[s.SpanContext.SpanID().String()] = s
		case trace.SpanKindConsumer:
			consumers = append(consumers, s)
		}
	}
	if len(producers) != 3 || len(consumers) != 3 {
		t.Fatalf("%d producer and %d consumer spans, want 3 and 3", len(producers), len(consumers))
	}
	for _, p := range producers {
		if p.Name != "publish ticket.created" || p.Parent.SpanID() != root.SpanContext().SpanID() {
			t.Errorf("producer span %q has parent %s, want the request's span", p.Name, p.Parent.SpanID())
		}
	}
	for _, s := range consumers {
		p, ok := producers[s.Parent.SpanID().String()]
		if s.Name != "process ticket.created" || !ok || s.SpanContext.TraceID() != traceID || p.SpanContext.TraceID() != traceID {
			t.Errorf("consumer span %q (trace %s) is not a child of a producer span of trace %s", s.Name, s.SpanContext.TraceID(), traceID)
		}
	}
}

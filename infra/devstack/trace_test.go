package main

import (
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"ticketing/common/events"
	"ticketing/common/testkit"
)

// TestOneTraceAcrossServices runs the five services in this process (the single-process dev
// stack), where they share the tracer provider of an in-memory exporter, and follows one
// order: the POST /api/orders request, the publish of its order.created, and the handling of
// that event by tickets, expiration and payments are one trace, each span the child of the
// one before.
func TestOneTraceAcrossServices(t *testing.T) {
	spans := testkit.Spans(t)
	rs := testkit.Redis(t)
	s := startStack(t, Options{RedisAddr: rs.Addr, RedisDB: rs.DB, LogLevel: "warn", Log: slog.New(slog.DiscardHandler)})
	c := newClient(t, s.URL)
	seller, buyer := c.signup("trace-seller@example.com"), c.signup("trace-buyer@example.com")
	tk := c.createTicket(seller, "Traced", 12)
	eventually(t, 20*time.Second, "ticket.created handled by orders", func() bool {
		for _, sp := range spans.GetSpans() {
			if sp.Name == "process "+events.SubjectTicketCreated && attr(sp, "messaging.consumer.group.name") == events.Durable("orders", events.SubjectTicketCreated) {
				return true
			}
		}
		return false
	})
	c.must(201, "POST", "/api/orders", buyer.Token, map[string]string{"ticketId": tk.ID})

	var request tracetest.SpanStub
	for _, sp := range spans.GetSpans() {
		if sp.Name == "POST /api/orders" && sp.SpanKind == trace.SpanKindServer && attr(sp, "http.response.status_code") == "201" {
			request = sp
		}
	}
	if !request.SpanContext.IsValid() {
		t.Fatal("no server span for the 201 of POST /api/orders")
	}
	id := request.SpanContext.TraceID()
	consumers := []string{
		events.Durable("tickets", events.SubjectOrderCreated),
		events.Durable("expiration", events.SubjectOrderCreated),
		events.Durable("payments", events.SubjectOrderCreated),
	}
	eventually(t, 20*time.Second, "order.created handled in the order's trace by "+consumers[0]+", "+consumers[1]+" and "+consumers[2], func() bool {
		byID := map[trace.SpanID]tracetest.SpanStub{}
		handled := map[string]bool{}
		all := spans.GetSpans()
		for _, sp := range all {
			byID[sp.SpanContext.SpanID()] = sp
		}
		for _, sp := range all {
			if sp.SpanKind != trace.SpanKindConsumer || sp.Name != "process "+events.SubjectOrderCreated || sp.SpanContext.TraceID() != id {
				continue
			}
			producer, ok := byID[sp.Parent.SpanID()]
			if !ok || producer.SpanKind != trace.SpanKindProducer || producer.Name != "publish "+events.SubjectOrderCreated ||
				producer.Parent.SpanID() != request.SpanContext.SpanID() {
				t.Fatalf("consumer span of %s is not under the publish of order.created under the request", attr(sp, "messaging.consumer.group.name"))
			}
			handled[attr(sp, "messaging.consumer.group.name")] = true
		}
		for _, cons := range consumers {
			if !handled[cons] {
				return false
			}
		}
		return true
	})
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}

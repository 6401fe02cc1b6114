package events_test

import (
	"encoding/json"
	"testing"
	"time"

	"ticketing/common/events"
)

// The payloads every order moves: order.created (orders -> tickets, expiration, payments)
// and ticket.updated (tickets -> orders, on an edit).
var (
	benchOrderCreated = events.OrderCreated{ID: "6b06180e1a0a735c89e4090b", Version: 0, Status: "created",
		UserID: "6b06180da21af444b0e2ef6c", ExpiresAt: time.Date(2026, 11, 24, 23, 19, 46, 109e6, time.UTC),
		Ticket: events.TicketRef{ID: "6b06180d51dcde0e57d139a4", PriceCents: 2050}}
	benchOrderID       = "6b06180e1a0a735c89e4090b"
	benchTicketUpdated = events.TicketUpdated{ID: "6b06180d51dcde0e57d139a4", Version: 1, Title: "Concert",
		PriceCents: 2050, UserID: "6b06180da21af444b0e2ef6c", OrderID: &benchOrderID}
)

// BenchmarkEncode is what an outbox write pays per event (bus.NewEnvelope marshals the
// payload once).
func BenchmarkEncode(b *testing.B) {
	b.Run("OrderCreated", func(b *testing.B) { benchEncode(b, benchOrderCreated) })
	b.Run("TicketUpdated", func(b *testing.B) { benchEncode(b, benchTicketUpdated) })
}

func benchEncode(b *testing.B, e events.Event) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode is what a listener pays per delivery before its handler runs: parse and
// validate (events.Decode).
func BenchmarkDecode(b *testing.B) {
	created, _ := json.Marshal(benchOrderCreated)
	updated, _ := json.Marshal(benchTicketUpdated)
	b.Run("OrderCreated", func(b *testing.B) { benchDecode[events.OrderCreated](b, created) })
	b.Run("TicketUpdated", func(b *testing.B) { benchDecode[events.TicketUpdated](b, updated) })
}

func benchDecode[E events.Event](b *testing.B, data []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := events.Decode[E](data); err != nil {
			b.Fatal(err)
		}
	}
}

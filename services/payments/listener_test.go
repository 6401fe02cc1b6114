package payments_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/payments/internal/payment"
)

// The order replica follows the orders events in version order whatever order they arrive
// in, and acknowledges duplicates.
func TestOrderReplica(t *testing.T) {
	h := start(t, nil)
	ctx := context.Background()
	id := bson.NewObjectID().Hex()
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)

	// Cancellation first: it waits for its predecessor.
	h.publish(events.OrderCancelled{ID: id, Version: 1, Ticket: events.TicketRef{ID: "t1"}})
	h.publish(events.OrderCreated{ID: id, Version: 0, Status: "created", UserID: "u1", ExpiresAt: exp,
		Ticket: events.TicketRef{ID: "t1", PriceCents: 1234}})
	h.publish(events.OrderCreated{ID: id, Version: 0, Status: "created", UserID: "u1", ExpiresAt: exp,
		Ticket: events.TicketRef{ID: "t1", PriceCents: 1234}}) // duplicate
	h.waitOrder(id, 1)
	got, err := h.store.Order(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := payment.Order{ID: id, UserID: "u1", PriceCents: 1234, Status: events.OrderStatusCancelled, Version: 1, ExpiresAt: exp, TicketID: "t1"}
	if got != want {
		t.Fatalf("replica %+v, want %+v", got, want)
	}

	// A completed order, then a stale cancellation of an older version: acknowledged, ignored.
	id2 := bson.NewObjectID().Hex()
	h.publish(events.OrderCreated{ID: id2, Version: 0, Status: "created", UserID: "u1", ExpiresAt: exp,
		Ticket: events.TicketRef{ID: "t2", PriceCents: 500}})
	h.publish(events.OrderCompleted{ID: id2, Version: 1, Ticket: events.TicketRef{ID: "t2"}})
	h.waitOrder(id2, 1)
	h.publish(events.OrderCancelled{ID: id2, Version: 1, Ticket: events.TicketRef{ID: "t2"}})
	eventually(t, "events handled", func() bool {
		return h.consumerDone(events.SubjectOrderCancelled) && h.consumerDone(events.SubjectOrderCreated) && h.consumerDone(events.SubjectOrderCompleted)
	})
	if o, _ := h.store.Order(ctx, id2); o.Status != events.OrderStatusComplete || o.Version != 1 {
		t.Fatalf("completed order became %+v", o)
	}
}

// A client that pays right after ordering, before order.created reached the replica, is
// answered once the order arrives rather than 404; an id that is not a recent order's is 404
// at once.
func TestPayBeforeReplicaCaughtUp(t *testing.T) {
	h := start(t, nil)
	id := bson.NewObjectID().Hex()
	tok := testkit.Token(t, "judy", "judy@example.com")
	done := make(chan testkit.Reply, 1)
	go func() { done <- h.pay(tok, map[string]any{"orderId": id, "token": "tok_visa"}) }()
	time.Sleep(300 * time.Millisecond) // not a wait for anything: it makes the order event late
	h.publish(events.OrderCreated{ID: id, Version: 0, Status: "created", UserID: "judy",
		ExpiresAt: time.Now().Add(time.Hour).UTC(), Ticket: events.TicketRef{ID: "t", PriceCents: 700}})
	if r := <-done; r.Status != 201 || r.Field("status") != "succeeded" {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
	began := time.Now()
	if r := h.pay(tok, map[string]any{"orderId": "65f000000000000000000000", "token": "tok_visa"}); r.Status != 404 {
		t.Fatalf("old id: %d %s", r.Status, r.Body)
	}
	if d := time.Since(began); d > time.Second {
		t.Fatalf("an old id waited %s", d)
	}
}

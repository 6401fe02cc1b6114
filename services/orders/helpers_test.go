package orders_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/apiclient"
	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/orders"
	"ticketing/services/orders/internal/store"
)

// harness is one deployment under test: a database, an embedded JetStream, and any number
// of orders instances sharing both. The test talks to the bus through its own connection.
type harness struct {
	t   testing.TB
	env map[string]string
	db  *mongo.Database
	st  *store.Store
	bus *testkit.Bus
}

func newHarness(t testing.TB, env map[string]string) *harness {
	t.Helper()
	vars := testkit.ServiceEnv(t, testkit.NATS(t))
	maps.Copy(vars, env)
	b := testkit.ConnectBus(t, vars["NATS_URL"], "orders-test", events.Topology{})
	db := testkit.MongoClient(t).Database(vars["MONGODB_DATABASE"])
	return &harness{t: t, env: vars, db: db, st: store.New(db, nil), bus: b}
}

// serve starts one more orders instance and returns its base URL.
func (h *harness) serve() string {
	h.t.Helper()
	cfg, err := orders.LoadConfig(config.FromMap(h.env))
	if err != nil {
		h.t.Fatal(err)
	}
	return testkit.Serve(h.t, func(ctx context.Context, ready func(string)) error {
		cfg.Ready = ready
		return orders.Run(ctx, cfg)
	})
}

var ticketSeq atomic.Int64

// ticket publishes ticket.created for a new ticket and waits until the replica has it.
func (h *harness) ticket(title string, priceCents int64) string {
	h.t.Helper()
	id := fmt.Sprintf("%024x", time.Now().UnixNano()+ticketSeq.Add(1))
	h.publish(events.TicketCreated{ID: id, Version: 0, Title: title, PriceCents: priceCents, UserID: "seller"})
	h.waitReplica(id, 0)
	return id
}

func (h *harness) waitReplica(id string, version int64) store.Replica {
	h.t.Helper()
	var r store.Replica
	testkit.Eventually(h.t, 10*time.Second, "ticket "+id+" replicated", func() bool {
		var err error
		r, err = h.st.Replica(context.Background(), id)
		return err == nil && r.Ticket.Version >= version
	})
	return r
}

func (h *harness) publish(e events.Event) {
	h.t.Helper()
	h.bus.Publish(e)
}

// waitHandled waits until the orders service handled every event published so far on the
// subject of E.
func waitHandled[E events.Event](h *harness) {
	h.t.Helper()
	var zero E
	h.bus.Handled(orders.Name, zero.Subject())
}

// busEvent is one event read back from the ORDERS stream.
type busEvent struct {
	Subject string
	MsgID   string
	Data    json.RawMessage
	OrderID string // payload's id
	Version int64
	Ticket  string
}

// orderEvents reads every event on the ORDERS stream with a plain ordered consumer.
func (h *harness) orderEvents() []busEvent {
	h.t.Helper()
	var out []busEvent
	for _, m := range h.bus.ReadStream(events.StreamOrders) {
		var p struct {
			Version int64 `json:"version"`
			Ticket  struct {
				ID string `json:"id"`
			} `json:"ticket"`
		}
		if err := json.Unmarshal(m.Data, &p); err != nil {
			h.t.Fatalf("event %s: %v", m.Subject, err)
		}
		out = append(out, busEvent{Subject: m.Subject, MsgID: m.ID, Data: m.Data, OrderID: m.Of, Version: p.Version, Ticket: p.Ticket.ID})
	}
	return out
}

// eventsOf returns the events about orderID, once its outbox is empty (every event it
// caused is on the bus).
func (h *harness) eventsOf(orderID string) []busEvent {
	h.t.Helper()
	testkit.Eventually(h.t, 10*time.Second, "outbox of "+orderID+" relayed", func() bool {
		n, err := h.st.Orders().CountDocuments(context.Background(), bson.M{"_id": orderID, "outbox.0": bson.M{"$exists": true}})
		return err == nil && n == 0
	})
	var out []busEvent
	for _, e := range h.orderEvents() {
		if e.OrderID == orderID {
			out = append(out, e)
		}
	}
	return out
}

func subjects(evs []busEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Subject)
	}
	return out
}

// handled is the service's count of deliveries of subject with outcome (ack, not_yet,
// retry, dead_letter), from the process's Prometheus registry.
func handled(t testing.TB, subject, outcome string) float64 {
	t.Helper()
	return testkit.HandledCount(t, orders.Name, subject, outcome)
}

// placeOrder posts an order that must succeed.
func placeOrder(t testing.TB, base, token, ticketID string) apiclient.Order {
	t.Helper()
	return testkit.NewAPI(t, base).PlaceOrder(token, ticketID)
}

func getOrder(t testing.TB, base, token, id string) apiclient.Order {
	t.Helper()
	return testkit.NewAPI(t, base).Order(token, id)
}

package orders_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/bus"
	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/orders"
	"ticketing/services/orders/internal/store"
)

// harness is one deployment under test: a database, an embedded JetStream, and any number
// of orders instances sharing both. The test talks to the bus through its own connection.
type harness struct {
	t    testing.TB
	env  map[string]string
	db   *mongo.Database
	st   *store.Store
	conn *bus.Conn
}

func newHarness(t testing.TB, env map[string]string) *harness {
	t.Helper()
	vars := testkit.ServiceEnv(t, testkit.NATS(t))
	maps.Copy(vars, env)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := bus.Connect(ctx, vars["NATS_URL"], "orders-test", events.Topology{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	db := testkit.MongoClient(t).Database(vars["MONGODB_DATABASE"])
	return &harness{t: t, env: vars, db: db, st: store.New(db, nil), conn: conn}
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	switch e := e.(type) {
	case events.TicketCreated:
		err = bus.Publish(ctx, h.conn, "", e)
	case events.EventCreated:
		err = bus.Publish(ctx, h.conn, "", e)
	case events.TicketUpdated:
		err = bus.Publish(ctx, h.conn, "", e)
	case events.ExpirationCompleted:
		err = bus.Publish(ctx, h.conn, "", e)
	case events.PaymentCreated:
		err = bus.Publish(ctx, h.conn, "", e)
	default:
		err = fmt.Errorf("test cannot publish %T", e)
	}
	if err != nil {
		h.t.Fatal(err)
	}
}

// waitHandled waits until the orders service acked every event published so far on the
// subject of E (its durable consumer's ack floor reached the stream's last sequence).
func waitHandled[E events.Event](h *harness) {
	h.t.Helper()
	var zero E
	ctx := context.Background()
	streamName := h.conn.Topology.StreamOf(zero.Subject())
	s, err := h.conn.JS.Stream(ctx, streamName)
	if err != nil {
		h.t.Fatal(err)
	}
	// The stream carries other subjects too: wait for the last message of this one.
	lastMsg, err := s.GetLastMsgForSubject(ctx, h.conn.Topology.Subject(zero.Subject()))
	if err != nil {
		h.t.Fatal(err)
	}
	last := lastMsg.Sequence
	durable := events.Durable(orders.Name, zero.Subject())
	testkit.Eventually(h.t, 15*time.Second, durable+" acked up to "+fmt.Sprint(last), func() bool {
		c, err := s.Consumer(ctx, durable)
		if err != nil {
			return false
		}
		ci, err := c.Info(ctx)
		return err == nil && ci.AckFloor.Stream >= last
	})
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
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := h.conn.JS.Stream(ctx, h.conn.Topology.Stream(events.StreamOrders))
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	want := int(info.State.Msgs)
	if want == 0 {
		return nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []busEvent
	for len(out) < want {
		batch, err := c.Fetch(want-len(out), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			h.t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var p struct {
				ID      string `json:"id"`
				Version int64  `json:"version"`
				Ticket  struct {
					ID string `json:"id"`
				} `json:"ticket"`
			}
			if err := json.Unmarshal(m.Data(), &p); err != nil {
				h.t.Fatalf("event %s: %v", m.Subject(), err)
			}
			out = append(out, busEvent{
				Subject: h.conn.Topology.Unprefixed(m.Subject()), MsgID: m.Headers().Get(bus.HeaderMsgID),
				Data: m.Data(), OrderID: p.ID, Version: p.Version, Ticket: p.Ticket.ID,
			})
		}
		if batch.Error() != nil {
			h.t.Fatal(batch.Error())
		}
		if n == 0 {
			h.t.Fatalf("read %d of %d events of the ORDERS stream", len(out), want)
		}
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
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "ticketing_events_handled_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["subject"] == subject && labels["consumer"] == events.Durable(orders.Name, subject) && labels["outcome"] == outcome {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// client is an HTTP client that keeps enough idle connections for the concurrent tests.
var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128},
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// errorBody is the API's error shape.
type errorBody struct {
	Errors []struct {
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"errors"`
}

func (r response) errorMessage(t testing.TB) string {
	t.Helper()
	var e errorBody
	r.decode(t, &e)
	if len(e.Errors) == 0 {
		t.Fatalf("no error in %s", r.Body)
	}
	return e.Errors[0].Message
}

func (r response) errorField(t testing.TB) string {
	t.Helper()
	var e errorBody
	r.decode(t, &e)
	if len(e.Errors) == 0 {
		t.Fatalf("no error in %s", r.Body)
	}
	return e.Errors[0].Field
}

// call sends method url with body (a string is sent as is, anything else as JSON) and the
// bearer token when not empty.
func call(t testing.TB, method, url, token string, body any) response {
	t.Helper()
	return callWith(t, method, url, token, body, nil)
}

// callWith is call with more request headers.
func callWith(t testing.TB, method, url, token string, body any, header http.Header) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: data}
}

// orderJSON is an order as the API shows it.
type orderJSON struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expiresAt"`
	Version   int64     `json:"version"`
	Ticket    struct {
		ID      string  `json:"id"`
		Title   string  `json:"title"`
		Price   float64 `json:"price"`
		Version int64   `json:"version"`
	} `json:"ticket"`
}

// placeOrder posts an order that must succeed.
func placeOrder(t testing.TB, base, token, ticketID string) orderJSON {
	t.Helper()
	r := call(t, "POST", base+"/api/orders", token, map[string]string{"ticketId": ticketID})
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /api/orders for %s = %d %s", ticketID, r.Status, r.Body)
	}
	var o orderJSON
	r.decode(t, &o)
	return o
}

func getOrder(t testing.TB, base, token, id string) orderJSON {
	t.Helper()
	r := call(t, "GET", base+"/api/orders/"+id, token, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /api/orders/%s = %d %s", id, r.Status, r.Body)
	}
	var o orderJSON
	r.decode(t, &o)
	return o
}

package tickets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/bus"
	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/tickets"
)

// harness is one tickets service under test, on its own database and embedded NATS, with a
// bus connection of the test's own and a recorder of everything on the TICKETS stream.
type harness struct {
	t    *testing.T
	env  map[string]string
	url  string
	db   *mongo.Database // the service's database, to look at the outbox
	conn *bus.Conn
	rec  *recorder
}

// start runs the service on a fresh database and NATS.
func start(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	h.url, _ = h.serve(nil)
	return h
}

// newHarness prepares a database, NATS and the test's bus connection, with no service yet.
func newHarness(t *testing.T) *harness {
	t.Helper()
	natsURL := testkit.NATS(t)
	env := testkit.ServiceEnv(t, natsURL)
	env["OUTBOX_POLL_INTERVAL"] = "100ms"
	h := &harness{t: t, env: env, db: testkit.MongoClient(t).Database(env["MONGODB_DATABASE"])}
	h.connect(natsURL)
	return h
}

// serve runs one more instance of the service on h's database and NATS, with relayHook as
// the relay's AfterPublish hook. stop shuts it down and waits (the test's end does too).
func (h *harness) serve(relayHook func(string) error) (url string, stop func()) {
	t := h.t
	t.Helper()
	cfg, err := tickets.LoadConfig(config.FromMap(h.env))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RelayAfterPublish = relayHook
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	cfg.Ready = func(addr string) { ready <- addr }
	go func() { done <- tickets.Run(ctx, cfg) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("service stopped with %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("service did not stop within 30s")
			}
		})
	}
	t.Cleanup(stop)
	select {
	case addr := <-ready:
		return "http://" + addr, stop
	case err := <-done:
		t.Fatalf("service did not start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("service did not start within 60s")
	}
	return "", stop
}

func (h *harness) connect(natsURL string) {
	t := h.t
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	conn, err := bus.Connect(t.Context(), natsURL, "tickets-test", events.Topology{}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.NC.Close)
	h.conn = conn
	h.rec = record(t, conn, events.StreamTickets)
}

// ---- HTTP ----

type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends body (a string is sent as it is, anything else as JSON) with token, if any.
func (h *harness) call(method, path, token string, body any) response {
	h.t.Helper()
	return h.callHeader(method, path, token, body, nil)
}

// callHeader is call with header's fields added to the request.
func (h *harness) callHeader(method, path, token string, body any, header http.Header) response {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.url+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// ticketJSON is a ticket as the API shows it.
type ticketJSON struct {
	ID      string  `json:"id"`
	Title   string  `json:"title"`
	Price   float64 `json:"price"`
	UserID  string  `json:"userId"`
	Version int64   `json:"version"`
	OrderID *string `json:"orderId"`
	Status  string  `json:"status"`
}

func (r response) ticket(t *testing.T) ticketJSON {
	t.Helper()
	var tk ticketJSON
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tk); err != nil {
		t.Fatalf("ticket body %s: %v", r.body, err)
	}
	return tk
}

type errorItem struct {
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (r response) errors(t *testing.T) []errorItem {
	t.Helper()
	var body struct {
		Errors []errorItem `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || len(body.Errors) == 0 {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	return body.Errors
}

// expect fails unless r has status, and for an error, an item with field (when not "") whose
// message contains msg (when not "").
func (r response) expect(t *testing.T, status int, field, msg string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if status < 400 {
		return
	}
	for _, e := range r.errors(t) {
		if (field == "" || e.Field == field) && bytes.Contains([]byte(e.Message), []byte(msg)) {
			return
		}
	}
	t.Fatalf("errors %s: none with field %q and message %q", r.body, field, msg)
}

// create lists a ticket as token's user.
func (h *harness) create(token, title string, price float64) ticketJSON {
	h.t.Helper()
	r := h.call("POST", "/api/tickets", token, map[string]any{"title": title, "price": price})
	r.expect(h.t, http.StatusCreated, "", "")
	return r.ticket(h.t)
}

func (h *harness) get(id string) ticketJSON {
	h.t.Helper()
	r := h.call("GET", "/api/tickets/"+id, "", nil)
	r.expect(h.t, http.StatusOK, "", "")
	return r.ticket(h.t)
}

// ---- bus ----

// publish sends an order event as the orders service would, with a fresh event id.
func publish[E events.Event](h *harness, e E) {
	h.t.Helper()
	if err := bus.Publish(h.t.Context(), h.conn, "", e); err != nil {
		h.t.Fatal(err)
	}
}

func orderCreated(order, ticket string) events.OrderCreated {
	return events.OrderCreated{ID: order, Status: "created", UserID: "buyer", ExpiresAt: time.Now().Add(15 * time.Minute),
		Ticket: events.TicketRef{ID: ticket, PriceCents: 100}}
}

func orderCancelled(order, ticket string) events.OrderCancelled {
	return events.OrderCancelled{ID: order, Version: 1, Ticket: events.TicketRef{ID: ticket}}
}

func orderCompleted(order, ticket string) events.OrderCompleted {
	return events.OrderCompleted{ID: order, Version: 1, Ticket: events.TicketRef{ID: ticket}}
}

// handled waits until the service's durable consumer of subject has acknowledged (or
// dead-lettered) everything on the stream so far, so that the effect of the events published
// before, or their absence, can be checked.
func (h *harness) handled(subject string) {
	h.t.Helper()
	ctx := h.t.Context()
	streamName := h.conn.Topology.StreamOf(subject)
	stream, err := h.conn.JS.Stream(ctx, streamName)
	if err != nil {
		h.t.Fatal(err)
	}
	lastMsg, err := stream.GetLastMsgForSubject(ctx, h.conn.Topology.Subject(subject))
	if err != nil {
		h.t.Fatal(err)
	}
	last := lastMsg.Sequence
	durable := events.Durable(tickets.Name, subject)
	testkit.Eventually(h.t, 20*time.Second, durable+" handles its events", func() bool {
		c, err := h.conn.JS.Consumer(ctx, streamName, durable)
		if err != nil {
			return false
		}
		ci, err := c.Info(ctx)
		return err == nil && ci.AckFloor.Stream >= last && ci.NumAckPending == 0
	})
}

// outboxLen is how many events ticket id still has to publish.
func (h *harness) outboxLen(id string) int {
	h.t.Helper()
	var d struct {
		Outbox []bus.Envelope `bson:"outbox"`
	}
	if err := h.db.Collection("tickets").FindOne(h.t.Context(), bson.M{"_id": id}).Decode(&d); err != nil {
		h.t.Fatal(err)
	}
	return len(d.Outbox)
}

// settled waits until ticket id's outbox is empty and the recorder holds everything the
// stream stored: after that, no event of the ticket is still on its way.
func (h *harness) settled(id string) {
	h.t.Helper()
	testkit.Eventually(h.t, 20*time.Second, "the outbox of "+id+" is published", func() bool { return h.outboxLen(id) == 0 })
	h.rec.caughtUp()
}

// recorder keeps every message of a stream, in stream order, read by a plain ordered
// JetStream consumer (no acks, nothing shared with the service).
type recorder struct {
	t      *testing.T
	stream jetstream.Stream
	mu     sync.Mutex
	msgs   []recorded
	seq    uint64
}

type recorded struct {
	ID      string // Nats-Msg-Id
	Subject string
	Header  nats.Header
	Data    []byte
}

func record(t *testing.T, conn *bus.Conn, stream string) *recorder {
	t.Helper()
	ctx := t.Context()
	s, err := conn.JS.Stream(ctx, conn.Topology.Stream(stream))
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{t: t, stream: s}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.msgs = append(r.msgs, recorded{ID: m.Headers().Get(bus.HeaderMsgID), Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		r.seq = md.Sequence.Stream
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return r
}

// caughtUp waits until the recorder has read up to the stream's last message.
func (r *recorder) caughtUp() {
	r.t.Helper()
	info, err := r.stream.Info(r.t.Context())
	if err != nil {
		r.t.Fatal(err)
	}
	last := info.State.LastSeq
	testkit.Eventually(r.t, 10*time.Second, "the recorder reads the whole stream", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.seq >= last
	})
}

// updates is every ticket.updated event of ticket id, in stream order, after checking that no
// event id was stored twice.
func (r *recorder) updates(id string) []events.TicketUpdated {
	r.t.Helper()
	var out []events.TicketUpdated
	for _, m := range r.of(id, events.SubjectTicketUpdated) {
		e, err := events.Decode[events.TicketUpdated](m.Data)
		if err != nil {
			r.t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// of is the messages of ticket id on subject, failing on a duplicate event id.
func (r *recorder) of(id, subject string) []recorded {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []recorded
	for _, m := range r.msgs {
		if seen[m.ID] {
			r.t.Fatalf("event id %s is on the stream twice", m.ID)
		}
		seen[m.ID] = true
		var head struct {
			ID string `json:"id"`
		}
		if m.Subject == subject && json.Unmarshal(m.Data, &head) == nil && head.ID == id {
			out = append(out, m)
		}
	}
	return out
}

// versionsOf is the versions of es.
func versionsOf(es []events.TicketUpdated) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Version
	}
	return out
}

// oneToN is 1, 2, ..., n.
func oneToN(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out
}

func orderIDs(es []events.TicketUpdated) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = "<null>"
		if e.OrderID != nil {
			out[i] = *e.OrderID
		}
	}
	return out
}

var errKilled = errors.New("relay killed between publish and removal")

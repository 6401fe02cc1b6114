package tickets_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/apiclient"
	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/tickets"
)

// harness is one tickets service under test, on its own database and embedded NATS, with a
// bus connection of the test's own and a recorder of everything on the TICKETS stream.
type harness struct {
	t   *testing.T
	env map[string]string
	url string
	api *testkit.API
	db  *mongo.Database // the service's database, to look at the outbox
	bus *testkit.Bus
	rec *testkit.Recorder
}

// start runs the service on a fresh database and NATS.
func start(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	h.setURL(h.serve(nil))
	return h
}

// newHarness prepares a database, NATS and the test's bus connection, with no service yet.
func newHarness(t *testing.T) *harness {
	t.Helper()
	natsURL := testkit.NATS(t)
	env := testkit.ServiceEnv(t, natsURL)
	env["OUTBOX_POLL_INTERVAL"] = "100ms"
	h := &harness{t: t, env: env, db: testkit.MongoClient(t).Database(env["MONGODB_DATABASE"])}
	h.bus = testkit.ConnectBus(t, natsURL, "tickets-test", events.Topology{})
	h.rec = h.bus.Record(events.StreamTickets)
	return h
}

// setURL points the harness's calls at the instance at url.
func (h *harness) setURL(url string, _ func()) {
	h.url = url
	h.api = testkit.NewAPI(h.t, url)
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
	url, stopErr := testkit.ServeStoppable(t, func(ctx context.Context, ready func(string)) error {
		cfg.Ready = ready
		return tickets.Run(ctx, cfg)
	})
	stop = func() {
		if err := stopErr(); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return url, stop
}

// ---- HTTP ----

// call sends body (a string is sent as it is, anything else as JSON) with token, if any.
func (h *harness) call(method, path, token string, body any) testkit.Reply {
	h.t.Helper()
	return h.api.Call(method, path, token, body)
}

// ticket is the ticket in r's body, which shows no field the view does not know.
func ticket(t *testing.T, r testkit.Reply) apiclient.Ticket {
	t.Helper()
	var tk apiclient.Ticket
	r.Strict(&tk)
	return tk
}

// create lists a ticket as token's user.
func (h *harness) create(token, title string, price float64) apiclient.Ticket {
	h.t.Helper()
	return h.api.CreateTicket(token, title, price)
}

func (h *harness) get(id string) apiclient.Ticket {
	h.t.Helper()
	return h.api.Ticket(id)
}

// ---- bus ----

// publish sends an order event as the orders service would, with a fresh event id.
func publish(h *harness, e events.Event) {
	h.t.Helper()
	h.bus.Publish(e)
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
	h.bus.Handled(tickets.Name, subject)
}

// outboxLen is how many events ticket id still has to publish.
func (h *harness) outboxLen(id string) int {
	h.t.Helper()
	return len(testkit.Outbox(h.t, h.db.Collection("tickets"), id))
}

// settled waits until ticket id's outbox is empty and the recorder holds everything the
// stream stored: after that, no event of the ticket is still on its way.
func (h *harness) settled(id string) {
	h.t.Helper()
	testkit.Eventually(h.t, 20*time.Second, "the outbox of "+id+" is published", func() bool { return h.outboxLen(id) == 0 })
	h.rec.CaughtUp()
}

// updates is every ticket.updated event of ticket id, in stream order, after checking that no
// event id was stored twice.
func (h *harness) updates(id string) []events.TicketUpdated {
	h.t.Helper()
	var out []events.TicketUpdated
	for _, m := range h.rec.Of(id, events.SubjectTicketUpdated) {
		out = append(out, testkit.Decode[events.TicketUpdated](h.t, m))
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

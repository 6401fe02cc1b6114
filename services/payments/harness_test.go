package payments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stripe/stripe-go/v76/webhook"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/bus"
	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/payments"
	"ticketing/services/payments/internal/provider"
	"ticketing/services/payments/internal/store"
)

const webhookSecret = "whsec_test_secret"

// harness is one payments service over real HTTP, an embedded JetStream and the MongoDB
// stand-in, with the offline provider (unless the test picks another).
type harness struct {
	t       *testing.T
	url     string
	env     map[string]string // the service's environment, for another replica
	conn    *bus.Conn
	db      *mongo.Database
	store   *store.Store
	offline *provider.Offline
}

func start(t *testing.T, tweak func(env map[string]string)) *harness {
	t.Helper()
	natsURL := testkit.NATS(t)
	env := testkit.ServiceEnv(t, natsURL)
	env["PAYMENT_PROVIDER"] = "offline"
	env["STRIPE_WEBHOOK_SECRET"] = webhookSecret
	if tweak != nil {
		tweak(env)
	}
	cfg, err := payments.LoadConfig(config.FromMap(env))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	h := &harness{t: t, env: env}
	if cfg.Provider == payments.ProviderOffline {
		h.offline = provider.NewOffline(nil)
		cfg.PaymentProvider = h.offline
	}
	h.url = testkit.Serve(t, func(ctx context.Context, ready func(string)) error {
		cfg.Ready = ready
		return payments.Run(ctx, cfg)
	})
	ctx := context.Background()
	h.conn, err = bus.Connect(ctx, natsURL, "payments-test", cfg.Topology, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.conn.Close)
	h.db = testkit.MongoClient(t).Database(env["MONGODB_DATABASE"])
	h.store = store.New(h.db, nil)
	return h
}

type order struct {
	ID, UserID string
	Token      string // the owner's bearer token
	PriceCents int64
}

// order publishes order.created for a new order of userID and waits for the replica.
func (h *harness) order(userID string, priceCents int64, expiresIn time.Duration) order {
	h.t.Helper()
	o := order{ID: bson.NewObjectID().Hex(), UserID: userID, Token: testkit.Token(h.t, userID, userID+"@example.com"), PriceCents: priceCents}
	h.publish(events.OrderCreated{ID: o.ID, Version: 0, Status: "created", UserID: userID,
		ExpiresAt: time.Now().Add(expiresIn).UTC(), Ticket: events.TicketRef{ID: "ticket-" + o.ID, PriceCents: priceCents}})
	h.waitOrder(o.ID, 0)
	return o
}

// replica starts another instance of the service on the same database and bus (its own
// provider client) and returns a harness that talks to it.
func (h *harness) replica() *harness {
	h.t.Helper()
	cfg, err := payments.LoadConfig(config.FromMap(h.env))
	if err != nil {
		h.t.Fatalf("config: %v", err)
	}
	r := *h
	r.url = testkit.Serve(h.t, func(ctx context.Context, ready func(string)) error {
		cfg.Ready = ready
		return payments.Run(ctx, cfg)
	})
	return &r
}

func (h *harness) publish(e events.Event) {
	h.t.Helper()
	env, err := bus.NewEnvelope(context.Background(), e)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.conn.Publish(context.Background(), env); err != nil {
		h.t.Fatal(err)
	}
}

// waitOrder waits until the replica holds version of order id.
func (h *harness) waitOrder(id string, version int64) {
	h.t.Helper()
	testkit.Eventually(h.t, 15*time.Second, "replica of order "+id, func() bool {
		o, err := h.store.Order(context.Background(), id)
		return err == nil && o.Version >= version
	})
}

func (h *harness) cancel(o order, version int64) {
	h.t.Helper()
	h.publish(events.OrderCancelled{ID: o.ID, Version: version, Ticket: events.TicketRef{ID: "ticket-" + o.ID}})
}

type response struct {
	Status int
	Body   map[string]any
	Raw    string
}

func (r response) str(k string) string { s, _ := r.Body[k].(string); return s }

func (r response) message() string {
	errs, _ := r.Body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	m, _ := errs[0].(map[string]any)
	s, _ := m["message"].(string)
	return s
}

func (h *harness) do(method, path, token string, body io.Reader, header http.Header) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// pay posts body (a map, or a string sent as is) to POST /api/payments.
func (h *harness) pay(token string, body any) response {
	h.t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	return h.do("POST", "/api/payments", token, bytes.NewReader(b), nil)
}

// webhook delivers a Stripe event signed at ts (now when zero).
func (h *harness) webhook(payload []byte, ts time.Time) response {
	h.t.Helper()
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: webhookSecret, Timestamp: ts})
	return h.do("POST", "/api/payments/webhook", "", bytes.NewReader(signed.Payload),
		http.Header{"Stripe-Signature": {signed.Header}})
}

// webhookHeaderWith is the Stripe-Signature header of body signed at ts with secret.
func webhookHeaderWith(body []byte, ts time.Time, secret string) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: ts}).Header
}

// intentEvent is a Stripe event about a PaymentIntent of an order's attempt.
func intentEvent(id, typ, intentID, orderID string, attempt int) []byte {
	obj := map[string]any{"id": intentID, "object": "payment_intent", "amount": 2000, "currency": "usd",
		"status": "succeeded", "metadata": map[string]string{"orderId": orderID, "attempt": itoa(attempt)}}
	if typ == "payment_intent.payment_failed" {
		obj["status"] = "requires_payment_method"
		obj["last_payment_error"] = map[string]any{"message": "Your card has insufficient funds.", "type": "card_error"}
	}
	b, _ := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": "2023-10-16", "type": typ,
		"created": time.Now().Unix(), "data": map[string]any{"object": obj}})
	return b
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// published counts the events of subject stored in its stream.
func (h *harness) published(subject string) int {
	h.t.Helper()
	ctx := context.Background()
	s, err := h.conn.JS.Stream(ctx, h.conn.Topology.StreamOf(subject))
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(h.conn.Topology.Subject(subject)))
	if err != nil {
		h.t.Fatal(err)
	}
	return int(info.State.Subjects[h.conn.Topology.Subject(subject)])
}

// messages reads the payloads of subject's events.
func messages[E events.Event](h *harness) []E {
	h.t.Helper()
	var zero E
	ctx := context.Background()
	subject := h.conn.Topology.Subject(zero.Subject())
	n := h.published(zero.Subject())
	if n == 0 {
		return nil
	}
	c, err := h.conn.JS.OrderedConsumer(ctx, h.conn.Topology.StreamOf(zero.Subject()),
		jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		h.t.Fatal(err)
	}
	batch, err := c.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		h.t.Fatal(err)
	}
	var out []E
	for m := range batch.Messages() {
		e, err := events.Decode[E](m.Data())
		if err != nil {
			h.t.Fatalf("%s: %v", subject, err)
		}
		out = append(out, e)
	}
	return out
}

// settled waits until the order's payment has no event left in its outbox (all published).
func (h *harness) settled(orderID string) {
	h.t.Helper()
	testkit.Eventually(h.t, 15*time.Second, "outbox of order "+orderID+" published", func() bool {
		n, err := h.store.Payments().CountDocuments(context.Background(),
			bson.M{"orderId": orderID, bus.OutboxField + ".0": bson.M{"$exists": true}})
		return err == nil && n == 0
	})
}

func (h *harness) payments(orderID string) int64 {
	h.t.Helper()
	n, err := h.store.Payments().CountDocuments(context.Background(), bson.M{"orderId": orderID})
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func eventually(t *testing.T, msg string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, msg, cond)
}

// consumerDone reports whether durable has acknowledged everything delivered to it.
func (h *harness) consumerDone(durable string) bool {
	ctx := context.Background()
	c, err := h.conn.JS.Consumer(ctx, h.conn.Topology.Stream(events.StreamOrders), durable)
	if err != nil {
		return false
	}
	info, err := c.Info(ctx)
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0
}

// redelivered reports whether durable has had an event delivered again (after a "not yet").
func (h *harness) redelivered(durable string) bool {
	ctx := context.Background()
	c, err := h.conn.JS.Consumer(ctx, h.conn.Topology.Stream(events.StreamOrders), durable)
	if err != nil {
		return false
	}
	info, err := c.Info(ctx)
	return err == nil && info.NumRedelivered > 0
}

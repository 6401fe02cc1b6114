package payments_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/apiclient"
	"ticketing/common/bus"
	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/payments"
	"ticketing/services/payments/internal/payment"
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
	api     *testkit.API
	bus     *testkit.Bus
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
	h.api = testkit.NewAPI(t, h.url)
	h.bus = testkit.ConnectBus(t, natsURL, "payments-test", cfg.Topology)
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
	r.api = testkit.NewAPI(h.t, r.url)
	return &r
}

func (h *harness) publish(e events.Event) {
	h.t.Helper()
	h.bus.Publish(e)
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

func (h *harness) do(method, path, token string, body any, header http.Header) testkit.Reply {
	h.t.Helper()
	return h.api.Send(apiclient.Request{Method: method, Path: path, Auth: apiclient.Bearer(token), Body: body, Header: header})
}

// pay posts body (a map, or a string sent as is) to POST /api/payments.
func (h *harness) pay(token string, body any) testkit.Reply {
	h.t.Helper()
	return h.api.Call("POST", "/api/payments", token, body)
}

// webhook delivers a Stripe event signed at ts (now when zero).
func (h *harness) webhook(payload []byte, ts time.Time) testkit.Reply {
	h.t.Helper()
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: webhookSecret, Timestamp: ts})
	return h.do("POST", "/api/payments/webhook", "", signed.Payload,
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
	return h.bus.Stored(subject)
}

// messages reads the payloads of subject's events.
func messages[E events.Event](h *harness) []E {
	h.t.Helper()
	return testkit.ReadEvents[E](h.bus)
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

// succeeded delivers payment_intent.succeeded (Stripe event evtID) for intentID, the
// intent of the order's first attempt; the webhook must answer 200.
func (h *harness) succeeded(t *testing.T, evtID, intentID, orderID string) {
	t.Helper()
	if w := h.webhook(intentEvent(evtID, "payment_intent.succeeded", intentID, orderID, 1), time.Time{}); w.Status != 200 {
		t.Fatalf("webhook: %d %s", w.Status, w.Body)
	}
}

// waitStatus waits until the order's payment has status; msg says what is awaited.
func (h *harness) waitStatus(t *testing.T, orderID string, status payment.Status, msg string) {
	t.Helper()
	eventually(t, msg, func() bool {
		p, err := h.store.PaymentByOrder(t.Context(), orderID)
		return err == nil && p.Status == status
	})
}

func eventually(t *testing.T, msg string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, msg, cond)
}

// consumerDone reports whether the service's consumer of subject has acknowledged
// everything delivered to it.
func (h *harness) consumerDone(subject string) bool {
	return h.bus.Idle(payments.Name, subject)
}

// redelivered reports whether the service's consumer of subject has had an event delivered
// again (after a "not yet").
func (h *harness) redelivered(subject string) bool {
	return h.bus.Redelivered(payments.Name, subject)
}

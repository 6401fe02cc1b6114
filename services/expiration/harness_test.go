package expiration_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/expiration"
)

// harness runs the expiration service against an embedded JetStream and a real Redis, and
// plays the order service: it publishes order events and watches expiration.completed.
type harness struct {
	t         testing.TB
	cfg       expiration.Config
	nats      *testkit.NATSServer
	redis     *testkit.RedisServer
	url       string
	bus       *testkit.Bus
	inspector *asynq.Inspector
	expired   *collector
}

type option func(env map[string]string, cfg *expiration.Config)

// withPublishTimeout bounds each publish of the service.
func withPublishTimeout(d time.Duration) option {
	return func(_ map[string]string, cfg *expiration.Config) { cfg.PublishTimeout = d }
}

func start(t testing.TB, opts ...option) *harness {
	t.Helper()
	ns := testkit.StartNATS(t, t.TempDir())
	rs := testkit.Redis(t)
	pub := testkit.NewKeyPair(t).PublicPEM
	env := map[string]string{
		"NATS_URL":         ns.ClientURL(),
		"REDIS_ADDR":       rs.Addr,
		"REDIS_DB":         strconv.Itoa(rs.DB),
		"HTTP_ADDR":        "127.0.0.1:0",
		"METRICS_ADDR":     "off",
		"LOG_FORMAT":       "text",
		"LOG_LEVEL":        "warn",
		"SHUTDOWN_TIMEOUT": "10s",
		"JWT_PUBLIC_KEY":   pub, // required by service.LoadBase, unused here
	}
	var cfg expiration.Config
	for _, o := range opts {
		o(env, &cfg)
	}
	loaded, err := expiration.LoadConfig(config.FromMap(env))
	if err != nil {
		t.Fatal(err)
	}
	loaded.CheckInterval, loaded.StatsInterval, loaded.PublishTimeout = cfg.CheckInterval, cfg.StatsInterval, cfg.PublishTimeout
	if loaded.StatsInterval == 0 {
		loaded.StatsInterval = 100 * time.Millisecond
	}
	h := &harness{t: t, cfg: loaded, nats: ns, redis: rs}
	h.url = testkit.Serve(t, func(ctx context.Context, ready func(string)) error {
		c := h.cfg
		c.Ready = ready
		return expiration.Run(ctx, c)
	})

	h.bus = testkit.ConnectBus(t, ns.ClientURL(), "test", events.Topology{})
	h.inspector = asynq.NewInspector(asynq.RedisClientOpt{Addr: rs.Addr, DB: rs.DB})
	t.Cleanup(func() { _ = h.inspector.Close() })
	h.expired = collect(h.bus)
	return h
}

// newOrderID is an order id as the order service makes them.
func newOrderID() string { return bson.NewObjectID().Hex() }

func (h *harness) created(id string, expiresAt time.Time) {
	h.t.Helper()
	h.publish(events.OrderCreated{
		ID: id, Version: 0, Status: "created", UserID: "u1", ExpiresAt: expiresAt,
		Ticket: events.TicketRef{ID: "t-" + id, PriceCents: 1000},
	})
}

// updated publishes the order.updated of order id moving to status with deadline expiresAt.
func (h *harness) updated(id string, version int64, status events.OrderStatus, expiresAt time.Time) {
	h.t.Helper()
	h.publish(events.OrderUpdated{ID: id, Version: version, Status: status, ExpiresAt: expiresAt.UTC(),
		Cause: "payment-started", Ticket: events.TicketRef{ID: "t-" + id}})
}

func (h *harness) cancelled(id string) {
	h.t.Helper()
	h.publish(events.OrderCancelled{ID: id, Version: 1, Ticket: events.TicketRef{ID: "t-" + id}})
}

func (h *harness) completed(id string) {
	h.t.Helper()
	h.publish(events.OrderCompleted{ID: id, Version: 2, Ticket: events.TicketRef{ID: "t-" + id}})
}

// publish sends e with a fresh event id, so JetStream never drops it as a duplicate: a
// second publish of one event stands for a redelivery.
func (h *harness) publish(e events.Event) {
	h.t.Helper()
	h.bus.Publish(e)
}

// handled waits until the service's consumer of subject has handled every event published
// so far.
func (h *harness) handled(subject string) {
	h.t.Helper()
	h.bus.Handled("expiration", subject)
}

// taskState is the asynq state of an order's task, or "none".
func (h *harness) taskState(id string) string {
	h.t.Helper()
	info, err := h.inspector.GetTaskInfo(h.cfg.Queue, id)
	switch {
	case err == nil:
		return info.State.String()
	case isNotFound(err):
		return "none"
	}
	h.t.Fatalf("task %s: %v", id, err)
	return ""
}

func isNotFound(err error) bool {
	return err != nil && (errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound))
}

func (h *harness) queueInfo() *asynq.QueueInfo {
	h.t.Helper()
	info, err := h.inspector.GetQueueInfo(h.cfg.Queue)
	if err != nil {
		h.t.Fatal(err)
	}
	return info
}

func (h *harness) readyz() (int, map[string]any) {
	h.t.Helper()
	r := testkit.Call(h.t, "GET", h.url+"/readyz", "", nil)
	var body map[string]any
	r.JSON(&body)
	return r.Status, body
}

// expiry is one expiration.completed seen on the stream.
type expiry struct {
	OrderID   string
	ExpiresAt time.Time // the deadline the job was scheduled for
	Stored    time.Time // when JetStream stored it: the moment it was published
	MsgID     string
}

// collector reads every expiration.completed from the EXPIRATION stream with a recorder
// of the test's own.
type collector struct {
	t    testing.TB
	rec  *testkit.Recorder
	mu   sync.Mutex
	read int // recorded messages indexed
	byID map[string][]expiry
	all  int
}

func collect(b *testkit.Bus) *collector {
	return &collector{t: b.T, rec: b.Record(events.StreamExpiration), byID: map[string][]expiry{}}
}

// index adds what was recorded since the last call.
func (c *collector) index() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.rec.Since(c.read) {
		c.read++
		if m.Subject != events.SubjectExpirationCompleted {
			continue
		}
		e := testkit.Decode[events.ExpirationCompleted](c.t, m)
		var due time.Time
		if e.ExpiresAt != nil {
			due = *e.ExpiresAt
		}
		c.byID[e.OrderID] = append(c.byID[e.OrderID], expiry{e.OrderID, due, m.Stored, m.ID})
		c.all++
	}
}

func (c *collector) of(id string) []expiry {
	c.index()
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]expiry(nil), c.byID[id]...)
}

func (c *collector) total() int {
	c.index()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.all
}

// checkOnTime fails t unless id expired exactly once, not before expiresAt and at most
// maxLate after it, with the event id derived from the order id.
func checkOnTime(t testing.TB, c *collector, id string, expiresAt time.Time, maxLate time.Duration) time.Duration {
	t.Helper()
	// The task completes once the publish is acknowledged; the collector sees it a moment later.
	deadline := time.Now().Add(30 * time.Second)
	for len(c.of(id)) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	got := c.of(id)
	if len(got) != 1 {
		t.Errorf("order %s: %d expiration.completed, want 1", id, len(got))
		return 0
	}
	late := got[0].Stored.Sub(expiresAt)
	if late < 0 || late > maxLate {
		t.Errorf("order %s: expiration.completed %v after expiresAt, want within [0, %v]", id, late, maxLate)
	}
	if want := "expiration-" + id + "-" + strconv.FormatInt(expiresAt.UnixMilli(), 10); got[0].MsgID != want {
		t.Errorf("order %s: Nats-Msg-Id %q, want %q", id, got[0].MsgID, want)
	}
	return late
}

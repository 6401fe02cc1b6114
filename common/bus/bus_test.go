package bus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/testkit"
)

var quiet = slog.New(slog.DiscardHandler)

func connect(t testing.TB, url string) *bus.Conn {
	t.Helper()
	c, err := bus.Connect(context.Background(), url, t.Name(), events.Topology{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ticket(id string) events.TicketCreated {
	return events.TicketCreated{ID: id, Title: "concert", PriceCents: 2000, UserID: "u1"}
}

// collect subscribes to a subject with an ephemeral consumer and gathers every message.
func collect(t testing.TB, c *bus.Conn, stream, subject string) func() []jetstream.Msg {
	t.Helper()
	cons, err := c.JS.CreateConsumer(context.Background(), stream, jetstream.ConsumerConfig{
		FilterSubject: subject, AckPolicy: jetstream.AckNonePolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []jetstream.Msg
	cc, err := cons.Consume(func(m jetstream.Msg) { mu.Lock(); got = append(got, m); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return func() []jetstream.Msg { mu.Lock(); defer mu.Unlock(); return append([]jetstream.Msg(nil), got...) }
}

func TestHandlerErrorIsRedeliveredUntilSuccess(t *testing.T) {
	c := connect(t, testkit.NATS(t))
	var calls atomic.Int32
	var done atomic.Int32
	listen(t, c, func(ctx context.Context, e events.TicketCreated) error {
		if calls.Add(1) < 3 {
			return errors.New("database down")
		}
		done.Add(1)
		return nil
	}, bus.ListenOptions{Backoff: 10 * time.Millisecond, Logger: quiet})
	if err := bus.Publish(context.Background(), c, "", ticket("t1")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "handled", func() bool { return done.Load() == 1 })
	testkit.ConsumerIdle(t, c.JS, events.StreamTickets, "test-ticket-created", 20*time.Second) // nothing more arrives after the ack
	if calls.Load() != 3 || done.Load() != 1 {
		t.Fatalf("calls = %d, successes = %d; want 3 and 1", calls.Load(), done.Load())
	}
}

func TestFailingEventIsDeadLetteredWithReason(t *testing.T) {
	c := connect(t, testkit.NATS(t))
	dead := collect(t, c, events.StreamDeadLetter, "deadletter.>")
	calls, broken := answering(errors.New("always broken"))
	listen(t, c, broken, bus.ListenOptions{RetryFor: time.Nanosecond, MinAttempts: 4, Backoff: 5 * time.Millisecond, Logger: quiet})
	before := deadLettered(t, "test-ticket-created")
	if err := bus.Publish(context.Background(), c, "evt-1", ticket("t1")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "dead letter", func() bool { return len(dead()) == 1 })
	// The counter moves after the dead letter is published: wait for it, then check that it
	// moved once.
	testkit.Eventually(t, 20*time.Second, "dead letter counted", func() bool { return deadLettered(t, "test-ticket-created")-before >= 1 })
	testkit.ConsumerIdle(t, c.JS, events.StreamTickets, "test-ticket-created", 20*time.Second) // terminated: no more deliveries
	if n := deadLettered(t, "test-ticket-created") - before; n != 1 {
		t.Errorf("ticketing_events_dead_lettered_total moved by %v, want 1", n)
	}
	if n := calls.Load(); n != 4 {
		t.Fatalf("handler called %d times, want 4 (MinAttempts, RetryFor spent)", n)
	}
	m := dead()[0]
	if m.Subject() != "deadletter.test-ticket-created" {
		t.Errorf("dead-letter subject %q", m.Subject())
	}
	h := m.Headers()
	if h.Get(bus.HeaderDLReason) != "always broken" || h.Get(bus.HeaderDLMsgID) != "evt-1" ||
		h.Get(bus.HeaderDLSubject) != events.SubjectTicketCreated || h.Get(bus.HeaderEventType) != events.SubjectTicketCreated {
		t.Errorf("dead-letter headers %v", h)
	}
	if _, err := events.Decode[events.TicketCreated](m.Data()); err != nil {
		t.Errorf("dead letter does not carry the event: %v", err)
	}
}

// listen starts service "test"'s listener of ticket.created on c with h and opts; it stops
// when the test ends.
func listen(t *testing.T, c *bus.Conn, h bus.Handler[events.TicketCreated], opts bus.ListenOptions) *bus.Listener {
	t.Helper()
	l, err := bus.Listen(context.Background(), c, "test", h, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Stop(context.Background()) })
	return l
}

// answering is a handler that counts its calls and answers each with err.
func answering(err error) (*atomic.Int32, bus.Handler[events.TicketCreated]) {
	calls := new(atomic.Int32)
	return calls, func(context.Context, events.TicketCreated) error {
		calls.Add(1)
		return err
	}
}

// deadLettered is ticketing_events_dead_lettered_total of consumer.
func deadLettered(t *testing.T, consumer string) float64 {
	t.Helper()
	return testkit.Counter(t, "ticketing_events_dead_lettered_total", map[string]string{"consumer": consumer})
}

func TestUndecodablePayloadIsDeadLetteredAtOnce(t *testing.T) {
	c := connect(t, testkit.NATS(t))
	dead := collect(t, c, events.StreamDeadLetter, "deadletter.>")
	calls, h := answering(nil)
	listen(t, c, h, bus.ListenOptions{Logger: quiet})
	for i, body := range []string{`{not json`, `{"id":"x","version":0,"title":"","priceCents":1,"userId":"u"}`} {
		if _, err := c.NC.Request("ticket.created", []byte(body), time.Second); err != nil {
			t.Fatalf("raw publish %d: %v", i, err)
		}
	}
	testkit.Eventually(t, 30*time.Second, "two dead letters", func() bool { return len(dead()) == 2 })
	for _, m := range dead() {
		if n, _ := m.Metadata(); n != nil && m.Headers().Get(bus.HeaderDLReason) == "" {
			t.Errorf("dead letter without a reason")
		}
	}
	if calls.Load() != 0 {
		t.Fatalf("handler saw %d invalid events", calls.Load())
	}
}

func TestNotYetIsOfferedAgainLater(t *testing.T) {
	c := connect(t, testkit.NATS(t))
	var ready atomic.Bool
	var attempts, applied atomic.Int32
	listen(t, c, func(ctx context.Context, e events.TicketCreated) error {
		attempts.Add(1)
		if !ready.Load() {
			return bus.ErrNotYet
		}
		applied.Add(1)
		return nil
	}, bus.ListenOptions{NotYetDelay: 10 * time.Millisecond, Logger: quiet})
	if err := bus.Publish(context.Background(), c, "", ticket("t1")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "offered twice", func() bool { return attempts.Load() >= 2 })
	ready.Store(true)
	testkit.Eventually(t, 30*time.Second, "applied", func() bool { return applied.Load() == 1 })
}

func TestReplicasShareTheDurableConsumer(t *testing.T) {
	url := testkit.NATS(t)
	const n = 200
	var mu sync.Mutex
	seen := map[string]int{}
	perReplica := [2]atomic.Int32{}
	for r := range 2 {
		c := connect(t, url)
		listen(t, c, func(ctx context.Context, e events.TicketCreated) error {
			mu.Lock()
			seen[e.ID]++
			mu.Unlock()
			perReplica[r].Add(1)
			time.Sleep(time.Millisecond) // a handler that takes time, so that one replica cannot take every event
			return nil
		}, bus.ListenOptions{Concurrency: 4, Logger: quiet})
	}
	pub := connect(t, url)
	for i := range n {
		if err := bus.Publish(context.Background(), pub, "", ticket(fmt.Sprint("t", i))); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 30*time.Second, "all handled", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == n })
	testkit.ConsumerIdle(t, pub.JS, events.StreamTickets, "test-ticket-created", 20*time.Second) // every ack arrived: no redelivery may follow
	mu.Lock()
	defer mu.Unlock()
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s handled %d times", id, k)
		}
	}
	if perReplica[0].Load() == 0 || perReplica[1].Load() == 0 {
		t.Errorf("work not split: %d / %d", perReplica[0].Load(), perReplica[1].Load())
	}
	t.Logf("split %d / %d", perReplica[0].Load(), perReplica[1].Load())
}

func TestSameEventIDIsStoredOnce(t *testing.T) {
	c := connect(t, testkit.NATS(t))
	for range 3 {
		if err := bus.Publish(context.Background(), c, "same-id", ticket("t1")); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.JS.Stream(context.Background(), events.StreamTickets)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1", info.State.Msgs)
	}
}

func TestStopWaitsForHandlersInFlight(t *testing.T) {
	c := connect(t, testkit.NATS(t))
	started := make(chan struct{})
	var finished atomic.Bool
	l := listen(t, c, func(ctx context.Context, e events.TicketCreated) error {
		close(started)
		time.Sleep(300 * time.Millisecond) // on purpose: the handler is still running when Stop is called
		finished.Store(true)
		return nil
	}, bus.ListenOptions{Logger: quiet})
	if err := bus.Publish(context.Background(), c, "", ticket("t1")); err != nil {
		t.Fatal(err)
	}
	<-started
	l.Stop(context.Background())
	if !finished.Load() {
		t.Fatal("Stop returned before the handler finished")
	}
}

// Listeners stopped while events flow, many times: Stop returns only after every handler
// it let start has finished, and none starts after it returned (the race detector watches
// the hand-over between deliveries and Stop).
func TestStopWhileEventsFlow(t *testing.T) {
	url := testkit.NATS(t)
	pub := connect(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	var publishing sync.WaitGroup
	publishing.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			_ = bus.Publish(ctx, pub, "", ticket(fmt.Sprint("t", i)))
		}
	})
	defer publishing.Wait()
	defer cancel()

	c := connect(t, url)
	var late atomic.Int32 // handler starts or ends seen after their listener's Stop returned
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	for round := range rounds {
		var stopped atomic.Bool
		var handled atomic.Int32
		l := listen(t, c, func(ctx context.Context, e events.TicketCreated) error {
			if stopped.Load() {
				late.Add(1)
			}
			handled.Add(1)
			// On purpose: handlers in flight when Stop comes, Stop must wait for them.
			time.Sleep(time.Duration(round%3) * time.Millisecond) // see above
			if stopped.Load() {
				late.Add(1)
			}
			return nil
		}, bus.ListenOptions{Concurrency: 1 + round%4, Logger: quiet})
		testkit.Eventually(t, 30*time.Second, "events flow", func() bool { return handled.Load() > int32(round%5) })
		l.Stop(context.Background())
		stopped.Store(true)
	}
	if n := late.Load(); n != 0 {
		t.Fatalf("%d handler starts or ends after Stop returned", n)
	}
}

func TestNotYetForeverIsDeadLetteredAfterItsBudget(t *testing.T) {
	c := connect(t, testkit.NATS(t))
	dead := collect(t, c, events.StreamDeadLetter, "deadletter.>")
	listen(t, c, func(ctx context.Context, e events.TicketCreated) error {
		return bus.ErrNotYet
	}, bus.ListenOptions{RetryFor: time.Nanosecond, MinAttempts: 1, NotYetDelay: 10 * time.Millisecond, NotYetFor: 500 * time.Millisecond, Logger: quiet})
	start := time.Now()
	if err := bus.Publish(context.Background(), c, "", ticket("t1")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "dead letter", func() bool { return len(dead()) == 1 })
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Fatalf("dead-lettered after %s, before its not-yet budget (the failure budget must not apply)", waited)
	}
}

// TestConnectErrorHidesCredentials: NATS_URL may carry a user and password or a token; a
// failed connection names the server without them, in its error and in the warnings it logs
// while it waits for NATS.
func TestConnectErrorHidesCredentials(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: the connection is refused
	for _, url := range []string{"nats://alice:natssecret@" + addr, "nats://natstoken@" + addr} {
		var logged strings.Builder
		log := slog.New(slog.NewTextHandler(&logged, nil))
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		_, err := bus.Connect(ctx, url, t.Name(), events.Topology{}, log)
		cancel()
		if err == nil {
			t.Fatalf("Connect(%s) succeeded with nothing listening", addr)
		}
		for _, secret := range []string{"alice", "natssecret", "natstoken"} {
			if strings.Contains(err.Error(), secret) || strings.Contains(logged.String(), secret) {
				t.Errorf("the connect error or log shows %q: %v\n%s", secret, err, logged.String())
			}
		}
		if !strings.Contains(err.Error(), addr) {
			t.Errorf("the connect error does not name the server %s: %v", addr, err)
		}
	}
}

// TestNotYetSpendsNoFailureBudget: deliveries answered "not yet" are not failures; a few
// failures after many of them are retried, not dead-lettered.
func TestNotYetSpendsNoFailureBudget(t *testing.T) {
	c := connect(t, testkit.NATS(t))
	dead := collect(t, c, events.StreamDeadLetter, "deadletter.>")
	var calls, done atomic.Int32
	listen(t, c, func(ctx context.Context, e events.TicketCreated) error {
		switch n := calls.Add(1); {
		case n <= 25:
			return bus.ErrNotYet
		case n <= 28:
			return errors.New("redis down")
		}
		done.Add(1)
		return nil
	}, bus.ListenOptions{RetryFor: time.Minute, MinAttempts: 2, NotYetDelay: time.Millisecond, Backoff: time.Millisecond, Logger: quiet})
	if err := bus.Publish(context.Background(), c, "", ticket("t1")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "handled", func() bool { return done.Load() == 1 })
	testkit.ConsumerIdle(t, c.JS, events.StreamTickets, "test-ticket-created", 20*time.Second)
	if n := len(dead()); n != 0 {
		t.Fatalf("%d dead letters after 25 not-yet answers and 3 failures within the budget", n)
	}
}

// TestFailureBudgetRunsFromTheFirstFailure: an event that waited "not yet" longer than the
// failure budget, then fails, is still retried for the whole budget after its first failure.
func TestFailureBudgetRunsFromTheFirstFailure(t *testing.T) {
	c := connect(t, testkit.NATS(t))
	dead := collect(t, c, events.StreamDeadLetter, "deadletter.>")
	const budget = 700 * time.Millisecond
	start := time.Now()
	var firstFailure atomic.Int64
	listen(t, c, func(ctx context.Context, e events.TicketCreated) error {
		if time.Since(start) < 2*budget {
			return bus.ErrNotYet
		}
		firstFailure.CompareAndSwap(0, time.Now().UnixNano())
		return errors.New("always broken")
	}, bus.ListenOptions{RetryFor: budget, MinAttempts: 1, NotYetDelay: 5 * time.Millisecond, Backoff: 5 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond, Logger: quiet})
	if err := bus.Publish(context.Background(), c, "evt-budget", ticket("t1")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "dead letter", func() bool { return len(dead()) == 1 })
	md, err := dead()[0].Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if failingFor := md.Timestamp.Sub(time.Unix(0, firstFailure.Load())); failingFor < budget {
		t.Fatalf("dead-lettered %s after the first failure, before the %s budget", failingFor, budget)
	}
}

// TestConnectWaitsForNATS: Connect started while no server answers keeps trying, and
// returns a working connection once the server is up.
func TestConnectWaitsForNATS(t *testing.T) {
	srv := testkit.StartNATS(t, t.TempDir())
	url := srv.ClientURL()
	srv.Shutdown()
	srv.WaitForShutdown()
	logs := &countingHandler{}
	type result struct {
		c   *bus.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := bus.Connect(t.Context(), url, t.Name(), events.Topology{}, slog.New(logs))
		done <- result{c, err}
	}()
	testkit.Eventually(t, 30*time.Second, "a second connection attempt", func() bool { return logs.n.Load() >= 2 })
	select {
	case r := <-done:
		t.Fatalf("Connect returned while NATS was down: %v", r.err)
	default:
	}
	srv.Restart()
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Connect did not return within 60s of NATS starting")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.c.Close()
	if err := r.c.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}

	// And a context that ends stops the wait.
	srv.Shutdown()
	srv.WaitForShutdown()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := bus.Connect(ctx, url, t.Name(), events.Topology{}, quiet); err == nil {
		t.Fatal("Connect to a server that is down returned no error when its context ended")
	}
}

// countingHandler counts the log records at warning level or above, only those saying msg
// when it is set.
type countingHandler struct {
	n   atomic.Int32
	msg string
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if h.msg == "" || r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

package testkit

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"ticketing/common/bus"
	"ticketing/common/events"
)

// Bus is a test's own connection to the bus of the services under test, with the checks
// tests make on it.
type Bus struct {
	T    testing.TB
	Conn *bus.Conn
}

// ConnectBus connects to natsURL as client name with topo's streams, closed when the test
// ends.
func ConnectBus(t testing.TB, natsURL, name string, topo events.Topology) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := bus.Connect(ctx, natsURL, name, topo, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("testkit: connect to the bus: %v", err)
	}
	t.Cleanup(conn.Close)
	return &Bus{T: t, Conn: conn}
}

// Publish publishes e with a fresh event id, as the service that owns it would.
func (b *Bus) Publish(e events.Event) {
	b.T.Helper()
	b.PublishID("", e)
}

// PublishID publishes e with event id (a fresh one when ""): a second publish of one id
// stands for a redelivery.
func (b *Bus) PublishID(id string, e events.Event) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var env bus.Envelope
	var err error
	if id == "" {
		env, err = bus.NewEnvelope(ctx, e)
	} else {
		env, err = bus.NewEnvelopeWithID(ctx, id, e)
	}
	if err == nil {
		err = b.Conn.Publish(ctx, env)
	}
	if err != nil {
		b.T.Fatalf("testkit: publish %s: %v", e.Subject(), err)
	}
}

// consumerInfo is the info of service's durable consumer of subject, or nil while it does
// not exist.
func (b *Bus) consumerInfo(service, subject string) *jetstream.ConsumerInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := b.Conn.JS.Consumer(ctx, b.Conn.Topology.StreamOf(subject), events.Durable(service, subject))
	if err != nil {
		return nil
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil
	}
	return info
}

// Handled waits until service's durable consumer of subject has acknowledged (or
// dead-lettered) every event on subject so far, so that their effect, or its absence, can be
// checked: its ack floor reached the subject's last message and nothing waits for an ack.
func (b *Bus) Handled(service, subject string) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := b.Conn.JS.Stream(ctx, b.Conn.Topology.StreamOf(subject))
	if err != nil {
		b.T.Fatalf("testkit: stream of %s: %v", subject, err)
	}
	// The stream carries other subjects too: wait for the last message of this one.
	last, err := stream.GetLastMsgForSubject(ctx, b.Conn.Topology.Subject(subject))
	if err != nil {
		b.T.Fatalf("testkit: last message of %s: %v", subject, err)
	}
	durable := events.Durable(service, subject)
	Eventually(b.T, 30*time.Second, durable+" handles its events", func() bool {
		ci := b.consumerInfo(service, subject)
		return ci != nil && ci.AckFloor.Stream >= last.Sequence && ci.NumAckPending == 0
	})
}

// Idle reports whether service's durable consumer of subject has nothing pending and
// nothing waiting for an ack (false while it does not exist).
func (b *Bus) Idle(service, subject string) bool {
	ci := b.consumerInfo(service, subject)
	return ci != nil && ci.NumPending == 0 && ci.NumAckPending == 0
}

// Redelivered reports whether service's durable consumer of subject has had an event
// delivered again.
func (b *Bus) Redelivered(service, subject string) bool {
	ci := b.consumerInfo(service, subject)
	return ci != nil && ci.NumRedelivered > 0
}

// info is the state of the stream named name (in full), with opts.
func (b *Bus) info(name string, opts ...jetstream.StreamInfoOpt) *jetstream.StreamInfo {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := b.Conn.JS.Stream(ctx, name)
	if err != nil {
		b.T.Fatalf("testkit: stream %s: %v", name, err)
	}
	info, err := s.Info(ctx, opts...)
	if err != nil {
		b.T.Fatalf("testkit: stream %s: %v", name, err)
	}
	return info
}

// Stored counts the messages of subject its stream holds.
func (b *Bus) Stored(subject string) int {
	b.T.Helper()
	full := b.Conn.Topology.Subject(subject)
	return int(b.info(b.Conn.Topology.StreamOf(subject), jetstream.WithSubjectFilter(full)).State.Subjects[full])
}

// Read is every message of subject its stream holds, in stream order, read with an ordered
// consumer of the test's own.
func (b *Bus) Read(subject string) []Message {
	b.T.Helper()
	return b.read(b.Conn.Topology.StreamOf(subject), b.Conn.Topology.Subject(subject), b.Stored(subject))
}

// ReadStream is every message stream (its name without the deployment's prefix) holds, in
// stream order.
func (b *Bus) ReadStream(stream string) []Message {
	b.T.Helper()
	name := b.Conn.Topology.Stream(stream)
	return b.read(name, "", int(b.info(name).State.Msgs))
}

// read fetches the first n messages of stream (on subject filter, when not "").
func (b *Bus) read(stream, filter string, n int) []Message {
	b.T.Helper()
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cfg jetstream.OrderedConsumerConfig
	if filter != "" {
		cfg.FilterSubjects = []string{filter}
	}
	c, err := b.Conn.JS.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		b.T.Fatal(err)
	}
	var out []Message
	for len(out) < n {
		batch, err := c.Fetch(n-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			b.T.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			out = append(out, b.message(m))
		}
		if batch.Error() != nil {
			b.T.Fatal(batch.Error())
		}
		if got == 0 {
			b.T.Fatalf("testkit: read %d of %d messages of %s", len(out), n, stream)
		}
	}
	return out
}

// ReadEvents is the payloads of every event of E its stream holds, in stream order.
func ReadEvents[E events.Event](b *Bus) []E {
	b.T.Helper()
	var zero E
	var out []E
	for _, m := range b.Read(zero.Subject()) {
		out = append(out, Decode[E](b.T, m))
	}
	return out
}

// Decode is m's payload as an E, failing the test when it is not one.
func Decode[E events.Event](t testing.TB, m Message) E {
	t.Helper()
	e, err := events.Decode[E](m.Data)
	if err != nil {
		t.Fatalf("testkit: %s %s: %v", m.Subject, m.ID, err)
	}
	return e
}

// Message is one message read back from a stream.
type Message struct {
	ID      string // Nats-Msg-Id: the event id
	Subject string // without the deployment's prefix
	Header  nats.Header
	Data    []byte
	Stored  time.Time // when the stream stored it
	Seq     uint64    // its stream sequence
	Of      string    // the payload's "id": the aggregate it is about
}

func (b *Bus) message(m jetstream.Msg) Message {
	out := Message{ID: m.Headers().Get(bus.HeaderMsgID), Subject: b.Conn.Topology.Unprefixed(m.Subject()),
		Header: m.Headers(), Data: m.Data()}
	if md, err := m.Metadata(); err == nil {
		out.Stored, out.Seq = md.Timestamp, md.Sequence.Stream
	}
	var head struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(m.Data(), &head) == nil {
		out.Of = head.ID
	}
	return out
}

// Recorder keeps every message of a stream from the moment it starts, in stream order,
// read by a plain ordered JetStream consumer (no acks, nothing shared with the services).
type Recorder struct {
	b      *Bus
	stream jetstream.Stream
	mu     sync.Mutex
	msgs   []Message
	seq    uint64
}

// Record starts recording stream (its name without the deployment's prefix) until the
// test ends.
func (b *Bus) Record(stream string) *Recorder {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := b.Conn.JS.Stream(ctx, b.Conn.Topology.Stream(stream))
	if err != nil {
		b.T.Fatal(err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.T.Fatal(err)
	}
	r := &Recorder{b: b, stream: s}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		msg := b.message(m)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.msgs = append(r.msgs, msg)
		r.seq = max(r.seq, msg.Seq)
	})
	if err != nil {
		b.T.Fatal(err)
	}
	b.T.Cleanup(cc.Stop)
	return r
}

// CaughtUp waits until the recorder has read up to the stream's last message.
func (r *Recorder) CaughtUp() {
	t := r.b.T
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := r.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq
	Eventually(t, 30*time.Second, "the recorder reads the whole stream", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.seq >= last
	})
}

// Stream is the recorded stream.
func (r *Recorder) Stream() jetstream.Stream { return r.stream }

// All is every message recorded so far.
func (r *Recorder) All() []Message { return r.Since(0) }

// Since is the messages recorded after the first n.
func (r *Recorder) Since(n int) []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n >= len(r.msgs) {
		return nil
	}
	return append([]Message(nil), r.msgs[n:]...)
}

// Of is the messages on subject about id (the payload's id; every subject when subject is
// ""), failing the test when one event id was stored twice.
func (r *Recorder) Of(id, subject string) []Message {
	t := r.b.T
	t.Helper()
	seen := map[string]bool{}
	var out []Message
	for _, m := range r.All() {
		if seen[m.ID] {
			t.Fatalf("testkit: event id %s is on the stream twice", m.ID)
		}
		seen[m.ID] = true
		if (subject == "" || m.Subject == subject) && m.Of == id {
			out = append(out, m)
		}
	}
	return out
}

// Counter is the sum of the counters (or gauges) named name in the process's Prometheus
// registry whose labels include match (0 when there is none).
func Counter(t testing.TB, name string, match map[string]string) float64 {
	t.Helper()
	v, _ := Metric(t, name, match)
	return v
}

// Metric is the sum of the counters (or gauges) named name in the process's Prometheus
// registry whose labels include match, and whether there was one.
func Metric(t testing.TB, name string, match map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum, found := 0.0, false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if matches(labels, match) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
				found = true
			}
		}
	}
	return sum, found
}

func matches(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// HandledCount is the count of deliveries of subject to service's consumer with outcome
// (ack, not_yet, retry, dead_letter), from the process's Prometheus registry.
func HandledCount(t testing.TB, service, subject, outcome string) float64 {
	t.Helper()
	return Counter(t, "ticketing_events_handled_total", map[string]string{
		"subject": subject, "consumer": events.Durable(service, subject), "outcome": outcome})
}

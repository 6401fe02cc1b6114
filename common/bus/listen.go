package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"ticketing/common/events"
	"ticketing/common/meta"
)

// ErrNotYet is returned by a handler for an event that cannot apply yet, such as a version
// whose predecessor has not arrived: the event is redelivered after a short delay.
var ErrNotYet = errors.New("not yet")

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as one that no retry can cure: the event goes to the dead letters now.
func Permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Handler does the work for one event. It returns nil once the effect is stored, ErrNotYet
// to be called again later, Permanent(err) to give up, or any other error to be retried
// with backoff. It may be called more than once for one event.
type Handler[E events.Event] func(ctx context.Context, e E) error

// DefaultRetryFor is how long a failing handler is retried, from its first failure, before
// the event is dead-lettered: long enough to ride out a dependency's outage.
const DefaultRetryFor = 10 * time.Minute

// A listener's pull requests live on its consumer's leader, and are not handed over when that
// server dies: the client learns of it only from the missing heartbeats (two in a row), then
// pulls again from the new leader. The library's defaults (30s pulls, 15s heartbeats) leave
// a consumer stalled for up to 30s after a leader is killed; these make it about 4s, for one
// heartbeat every 2s from the server to each idle replica of each listener.
const (
	pullExpiry    = 10 * time.Second
	pullHeartbeat = 2 * time.Second
)

// ListenOptions tune a listener; the zero value is usable.
type ListenOptions struct {
	// RetryFor is the failure budget: how long after an event's first failure (as this
	// replica saw it) it is retried before being dead-lettered; DefaultRetryFor by default.
	// Deliveries answered "not yet" spend none of it.
	RetryFor    time.Duration
	MinAttempts int           // failures before an event may be dead-lettered, however short RetryFor; 3 by default
	Backoff     time.Duration // first retry delay, doubled each failure; 100ms by default
	MaxBackoff  time.Duration // cap on the retry delay; 10s by default
	NotYetDelay time.Duration // delay before an out-of-order event is offered again, growing to 20x; 100ms by default
	NotYetFor   time.Duration // how long after its publication an event may keep saying "not yet"; 15m by default
	Concurrency int           // events handled at once by this replica; 16 by default
	AckWait     time.Duration // redelivery when a handler neither acks nor naks; 30s by default
	Logger      *slog.Logger
}

func (o *ListenOptions) defaults() {
	if o.RetryFor <= 0 {
		o.RetryFor = DefaultRetryFor
	}
	if o.MinAttempts <= 0 {
		o.MinAttempts = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.NotYetDelay <= 0 {
		o.NotYetDelay = 100 * time.Millisecond
	}
	if o.NotYetFor <= 0 {
		o.NotYetFor = 15 * time.Minute
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Listener consumes one subject through a durable consumer shared by every replica of a
// service; each event goes to one replica.
type Listener struct {
	conn    *Conn
	durable string
	subject string
	schema  int
	opts    ListenOptions
	cc      jetstream.ConsumeContext
	sem     chan struct{} // a slot per handler running, Concurrency in all

	// A delivery starts a handler only under mu and while !stopping, so that Stop, which
	// sets stopping under mu, knows every handler it has to wait for: running counts them,
	// and idle is closed once stopping and none runs.
	mu         sync.Mutex
	stopping   bool
	running    int
	stop       chan struct{} // closed when Stop begins
	idle       chan struct{}
	idleClosed bool

	failures failureBook
}

// Listen starts handling E's subject with the durable consumer "<service>-<subject>".
func Listen[E events.Event](ctx context.Context, c *Conn, service string, h Handler[E], opts ListenOptions) (*Listener, error) {
	opts.defaults()
	var zero E
	subject := zero.Subject()
	l := &Listener{
		conn:    c,
		durable: events.Durable(service, subject),
		subject: subject,
		schema:  zero.Schema(),
		opts:    opts,
		sem:     make(chan struct{}, opts.Concurrency),
		stop:    make(chan struct{}),
		idle:    make(chan struct{}),
	}
	l.opts.Logger = opts.Logger.With("consumer", l.durable)
	var cons jetstream.Consumer
	err := retrySetup(ctx, l.opts.Logger, "consumer "+l.durable, func(ctx context.Context) (err error) {
		cons, err = c.JS.CreateOrUpdateConsumer(ctx, c.Topology.StreamOf(subject), jetstream.ConsumerConfig{
			Durable:       l.durable,
			Description:   service + " handles " + subject,
			FilterSubject: c.Topology.Subject(subject),
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       opts.AckWait,
			MaxDeliver:    -1, // bounded by RetryFor and NotYetFor here, so the last failure is dead-lettered
			MaxAckPending: 4 * opts.Concurrency,
			Replicas:      0,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", l.durable, err)
	}
	deadLetteredTotal.WithLabelValues(subject, l.durable) // exported as 0 from the start, for alerts
	handle := func(m jetstream.Msg) {
		l.handle(m, func(ctx context.Context, data []byte) error {
			e, err := events.Decode[E](data)
			if err != nil {
				return Permanent(err)
			}
			return h(ctx, e)
		})
	}
	l.cc, err = cons.Consume(func(m jetstream.Msg) {
		if !l.begin() {
			// Stopping: the event goes back, for another replica or the next start; the delay
			// keeps it from bouncing on this listener's pulls still in flight.
			_ = m.NakWithDelay(time.Second)
			return
		}
		go func() {
			defer l.end()
			handle(m)
		}()
	},
		jetstream.PullMaxMessages(2*opts.Concurrency),
		jetstream.PullExpiry(pullExpiry),
		jetstream.PullHeartbeat(pullHeartbeat),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) || c.NC.IsConnected() {
				l.opts.Logger.Warn("consume", "err", err)
			}
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", l.durable, err)
	}
	return l, nil
}

// begin takes a handler slot, waiting for one, and reports true; or, once Stop has begun,
// reports false and takes none.
func (l *Listener) begin() bool {
	select {
	case l.sem <- struct{}{}:
	case <-l.stop:
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopping {
		<-l.sem
		return false
	}
	l.running++
	return true
}

// end gives back the slot begin took.
func (l *Listener) end() {
	<-l.sem
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running--
	l.closeIdleLocked()
}

func (l *Listener) closeIdleLocked() {
	if l.stopping && l.running == 0 && !l.idleClosed {
		l.idleClosed = true
		close(l.idle)
	}
}

// Stop stops fetching and starts no more handlers (events already fetched go back to the
// stream), waits until the handlers running have finished or ctx ends, and returns. It may
// be called more than once.
func (l *Listener) Stop(ctx context.Context) {
	l.mu.Lock()
	first := !l.stopping
	if first {
		l.stopping = true
		close(l.stop)
		l.closeIdleLocked()
	}
	l.mu.Unlock()
	if first {
		l.cc.Drain()
	}
	select {
	case <-l.idle:
	case <-ctx.Done():
	}
}

func (l *Listener) handle(m jetstream.Msg, run func(context.Context, []byte) error) {
	start := time.Now()
	h := m.Headers()
	ctx := context.Background()
	if id := h.Get(HeaderRequestID); meta.SafeRequestID(id) {
		ctx = meta.WithRequestID(ctx, id)
	}
	attempt, seq := uint64(1), uint64(0)
	published := time.Now()
	if md, err := m.Metadata(); err == nil {
		attempt, published, seq = md.NumDelivered, md.Timestamp, md.Sequence.Stream
	}
	// The consumer span continues the trace of the producer span, whose traceparent the
	// event carries.
	ctx, span := otel.Tracer(tracerName).Start(meta.WithTraceParent(ctx, h.Get(HeaderTraceParent)),
		"process "+l.subject, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", l.subject),
			attribute.String("messaging.consumer.group.name", l.durable),
			attribute.String("messaging.message.id", h.Get(HeaderMsgID)),
			attribute.Int64("messaging.nats.delivery_attempt", int64(attempt))))
	defer span.End()
	ctx = meta.WithEventID(ctx, h.Get(HeaderMsgID))
	log := l.opts.Logger

	var err error
	if s := h.Get(HeaderEventSchema); s != "" && s != strconv.Itoa(l.schema) {
		err = Permanent(fmt.Errorf("unsupported Event-Schema %q, this reader knows %d", s, l.schema))
	} else {
		err = safeRun(ctx, run, m.Data())
	}
	handleSeconds.WithLabelValues(l.subject, l.durable).Observe(time.Since(start).Seconds())

	// An event waiting for its predecessor is offered again for NotYetFor after its
	// publication, however many times. A failing handler is retried with backoff for RetryFor
	// after the event's first failure (and at least MinAttempts times); "not yet" answers
	// spend none of that budget. Then the event is dead-lettered.
	notYet := errors.Is(err, ErrNotYet)
	var outcome string
	var f failure
	if err != nil && !notYet && !IsPermanent(err) {
		f = l.failures.fail(seq, time.Now(), l.opts.RetryFor)
	}
	switch {
	case err == nil:
		if ackErr := m.Ack(); ackErr != nil {
			log.WarnContext(ctx, "ack", "err", ackErr)
		}
		outcome = "ack"
	case IsPermanent(err),
		notYet && time.Since(published) > l.opts.NotYetFor,
		!notYet && f.n >= l.opts.MinAttempts && time.Since(f.first) >= l.opts.RetryFor:
		outcome = l.deadLetter(ctx, m, err, attempt)
	case notYet:
		_ = m.NakWithDelay(l.opts.NotYetDelay * time.Duration(min(attempt, 20)))
		outcome = "not_yet"
	default:
		log.WarnContext(ctx, "event handler failed; will retry", "attempt", attempt, "failures", f.n,
			"failing_for", time.Since(f.first).Round(time.Millisecond), "err", err)
		_ = m.NakWithDelay(l.backoff(uint64(f.n)))
		outcome = "retry"
	}
	if outcome == "ack" || outcome == "dead_letter" {
		l.failures.forget(seq)
	}
	handledTotal.WithLabelValues(l.subject, l.durable, outcome).Inc()
	// One line per delivery (the event id comes from ctx): what the cluster fault tests count.
	log.DebugContext(ctx, "event delivered", "subject", l.subject, "attempt", attempt, "outcome", outcome)
	span.SetAttributes(attribute.String("ticketing.event.outcome", outcome))
	if err != nil && (!notYet || outcome == "dead_letter") {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}

func safeRun(ctx context.Context, run func(context.Context, []byte) error, data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return run(ctx, data)
}

func (l *Listener) backoff(attempt uint64) time.Duration {
	d := l.opts.Backoff
	for i := uint64(1); i < attempt && d < l.opts.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, l.opts.MaxBackoff)
}

// deadLetter copies the event, with the reason, to the consumer's dead-letter subject, then
// terminates its delivery, and returns "dead_letter". If the copy cannot be stored the event
// is retried instead, and it returns "retry".
func (l *Listener) deadLetter(ctx context.Context, m jetstream.Msg, cause error, attempt uint64) string {
	reason := cause.Error()
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	dl := nats.NewMsg(l.conn.Topology.DeadLetterSubject(l.durable))
	dl.Data = m.Data()
	for k, v := range m.Headers() {
		if !strings.HasPrefix(k, "Nats-") { // JetStream's own, such as the expected stream
			dl.Header[k] = v
		}
	}
	id := m.Headers().Get(HeaderMsgID)
	seq := uint64(0)
	if md, err := m.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	dl.Header.Set(HeaderMsgID, fmt.Sprintf("%s:%d", l.durable, seq))
	dl.Header.Set(HeaderDLReason, reason)
	dl.Header.Set(HeaderDLConsumer, l.durable)
	dl.Header.Set(HeaderDLSubject, l.subject)
	dl.Header.Set(HeaderDLMsgID, id)
	pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.conn.JS.PublishMsg(pctx, dl); err != nil {
		l.opts.Logger.ErrorContext(ctx, "dead-letter publish failed; will retry the event", "err", err)
		_ = m.NakWithDelay(l.opts.MaxBackoff)
		return "retry"
	}
	_ = m.TermWithReason(reason)
	deadLetteredTotal.WithLabelValues(l.subject, l.durable).Inc()
	l.opts.Logger.ErrorContext(ctx, "event dead-lettered", "subject", l.subject, "event_id", id, "attempt", attempt, "reason", reason)
	return "dead_letter"
}

// failure is what a replica knows of an event's failures: how many, and since when.
type failure struct {
	first, last time.Time
	n           int
}

// failureBook keeps the failures of the events a listener is retrying, by stream sequence.
// It is the replica's own: a redelivery to another replica starts that replica's count, so
// the budget can only last longer, never shorter. Entries of events settled elsewhere are
// pruned once they have not failed here for a whole budget (an hour at least).
type failureBook struct {
	mu     sync.Mutex
	events map[uint64]failure
	pruned time.Time
}

// fail records a failure of the event at seq at now and returns its record.
func (b *failureBook) fail(seq uint64, now time.Time, budget time.Duration) failure {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.events == nil {
		b.events = map[uint64]failure{}
	}
	keep := max(budget, time.Hour)
	if now.Sub(b.pruned) > keep {
		for k, f := range b.events {
			if now.Sub(f.last) > keep {
				delete(b.events, k)
			}
		}
		b.pruned = now
	}
	f, ok := b.events[seq]
	if !ok {
		f.first = now
	}
	f.n++
	f.last = now
	b.events[seq] = f
	return f
}

// forget drops the record of an event settled (acknowledged or dead-lettered).
func (b *failureBook) forget(seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.events, seq)
}

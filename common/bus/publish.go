package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"ticketing/common/events"
	"ticketing/common/meta"
)

// Envelope is an event ready to publish: its id, subject, schema, JSON payload and the
// request's trace. Services store envelopes in their documents' outbox.
type Envelope struct {
	ID          string    `bson:"id"`
	Subject     string    `bson:"subject"`
	Schema      int       `bson:"schema"`
	Data        []byte    `bson:"data"`
	RequestID   string    `bson:"requestId,omitempty"`
	TraceParent string    `bson:"traceparent,omitempty"`
	CreatedAt   time.Time `bson:"createdAt"`
}

// NewEnvelope wraps e with a fresh time-ordered id and the request id and trace of ctx.
func NewEnvelope(ctx context.Context, e events.Event) (Envelope, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Envelope{}, err
	}
	return NewEnvelopeWithID(ctx, id.String(), e)
}

// NewEnvelopeWithID is NewEnvelope with a chosen id, for events whose duplicates must be
// dropped by JetStream whoever publishes them.
func NewEnvelopeWithID(ctx context.Context, id string, e events.Event) (Envelope, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s: %w", e.Subject(), err)
	}
	return Envelope{
		ID:          id,
		Subject:     e.Subject(),
		Schema:      e.Schema(),
		Data:        data,
		RequestID:   meta.RequestID(ctx),
		TraceParent: meta.TraceParent(ctx),
		CreatedAt:   time.Now().UTC(),
	}, nil
}

const tracerName = "ticketing/common/bus"

// publishTimeout bounds the wait for JetStream's ack of an asynchronous publish, as the
// library's default API timeout bounds a synchronous one; the library sets none, so a
// publish that no server answers (a stream between two leaders) would hold its relay
// worker until the relay stops.
const publishTimeout = 5 * time.Second

// msg is the message of env with its producer span, a child of the span that was current when
// env was made; the message carries the producer span's traceparent. End the span with
// endSpan once JetStream answered.
func (c *Conn) msg(env Envelope) (*nats.Msg, trace.Span) {
	ctx, span := otel.Tracer(tracerName).Start(meta.WithTraceParent(context.Background(), env.TraceParent),
		"publish "+env.Subject, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", env.Subject),
			attribute.String("messaging.message.id", env.ID)))
	m := nats.NewMsg(c.Topology.Subject(env.Subject))
	m.Data = env.Data
	m.Header.Set(HeaderMsgID, env.ID)
	m.Header.Set(HeaderEventType, env.Subject)
	m.Header.Set(HeaderEventSchema, strconv.Itoa(env.Schema))
	if tp := meta.TraceParent(ctx); tp != "" {
		m.Header.Set(HeaderTraceParent, tp)
	}
	if env.RequestID != "" {
		m.Header.Set(HeaderRequestID, env.RequestID)
	}
	return m, span
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Publish sends env and waits for JetStream's ack. A duplicate id within the stream's
// duplicate window is acknowledged without being stored again.
func (c *Conn) Publish(ctx context.Context, env Envelope) error {
	m, span := c.msg(env)
	ack, err := c.JS.PublishMsg(ctx, m, jetstream.WithExpectStream(c.Topology.StreamOf(env.Subject)))
	if err != nil {
		err = fmt.Errorf("publish %s %s: %w", env.Subject, env.ID, err)
		endSpan(span, err)
		return err
	}
	observePublished(span, env.Subject, ack.Duplicate)
	span.End()
	return nil
}

// PublishAll sends envs in order without waiting between them, then waits for every ack.
// It returns how many leading envelopes were acknowledged, so a caller removes only those.
func (c *Conn) PublishAll(ctx context.Context, envs []Envelope) (int, error) {
	for i, err := range c.publishEach(ctx, envs) {
		if err != nil {
			return i, err
		}
	}
	return len(envs), nil
}

// publishEach sends envs in order without waiting between them, then waits for every ack;
// errs[i] is envs[i]'s outcome (nil: JetStream stored it, or dropped it as a duplicate).
func (c *Conn) publishEach(ctx context.Context, envs []Envelope) (errs []error) {
	errs = make([]error, len(envs))
	if len(envs) == 1 {
		errs[0] = c.Publish(ctx, envs[0])
		return errs
	}
	futures := make([]jetstream.PubAckFuture, len(envs))
	spans := make([]trace.Span, len(envs))
	for i, env := range envs {
		m, span := c.msg(env)
		f, err := c.JS.PublishMsgAsync(m, jetstream.WithExpectStream(c.Topology.StreamOf(env.Subject)))
		if err != nil {
			errs[i] = fmt.Errorf("publish %s %s: %w", env.Subject, env.ID, err)
			endSpan(span, errs[i])
			continue
		}
		futures[i], spans[i] = f, span
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case ack := <-f.Ok():
			observePublished(spans[i], envs[i].Subject, ack.Duplicate)
			spans[i].End()
		case err := <-f.Err():
			errs[i] = fmt.Errorf("publish %s %s: %w", envs[i].Subject, envs[i].ID, err)
			endSpan(spans[i], errs[i])
		case <-ctx.Done():
			errs[i] = ctx.Err()
			endSpan(spans[i], errs[i])
		}
	}
	return errs
}

// Publish wraps e in an envelope with id (a fresh one when empty) and publishes it.
func Publish[E events.Event](ctx context.Context, c *Conn, id string, e E) error {
	var env Envelope
	var err error
	if id == "" {
		env, err = NewEnvelope(ctx, e)
	} else {
		env, err = NewEnvelopeWithID(ctx, id, e)
	}
	if err != nil {
		return err
	}
	return c.Publish(ctx, env)
}

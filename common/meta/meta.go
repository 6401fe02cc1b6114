// Package meta carries a request's id, the event being handled and the W3C trace context
// (OpenTelemetry's span context) through a context.Context, from an HTTP request into the
// events it causes and on into their handlers, and puts them on every log line.
package meta

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

type key int

const requestIDKey key = iota

// WithRequestID returns ctx carrying id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID is the request id in ctx, or "".
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// The trace context is OpenTelemetry's: the span in a context (a local one started by the HTTP
// middleware or the event listener, or a remote one from WithTraceParent) is the trace.
var traceContext propagation.TraceContext

const traceParentHeader = "traceparent"

// TraceParent is the W3C traceparent of the span in ctx, or "" when ctx has none.
func TraceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	traceContext.Inject(ctx, c)
	return c[traceParentHeader]
}

// WithTraceParent returns ctx carrying the remote span of a W3C traceparent value, so that a
// span started from it continues that trace. An empty or invalid value leaves ctx as it is.
func WithTraceParent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier{traceParentHeader: tp})
}

// TraceID is the trace id of the span in ctx, or "".
func TraceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

// NewID is a random 16-byte id in hex, for request ids.
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// SafeRequestID accepts a client-sent request id only if it is short and printable ASCII.
func SafeRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

type eventKey struct{}

// WithEventID returns ctx carrying the id of the event being handled.
func WithEventID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, eventKey{}, id)
}

// EventID is the id of the event being handled in ctx, or "".
func EventID(ctx context.Context) string {
	s, _ := ctx.Value(eventKey{}).(string)
	return s
}

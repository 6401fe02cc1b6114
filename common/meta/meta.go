// Package meta carries a request's id and W3C trace context through a context.Context,
// from an HTTP request into the events it causes and on into their handlers.
package meta

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
)

type key int

const (
	requestIDKey key = iota
	traceParentKey
)

// WithRequestID returns ctx carrying id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID is the request id in ctx, or "".
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// WithTraceParent returns ctx carrying a W3C traceparent value.
func WithTraceParent(ctx context.Context, tp string) context.Context {
	return context.WithValue(ctx, traceParentKey, tp)
}

// TraceParent is the traceparent in ctx, or "".
func TraceParent(ctx context.Context) string {
	s, _ := ctx.Value(traceParentKey).(string)
	return s
}

// TraceID is the trace id part of the traceparent in ctx, or "".
func TraceID(ctx context.Context) string {
	parts := strings.Split(TraceParent(ctx), "-")
	if len(parts) != 4 {
		return ""
	}
	return parts[1]
}

// NewID is a random 16-byte id in hex, for request ids.
func NewID() string { return randomHex(16) }

// ChildTraceParent continues the trace of parent with a new span id, or starts a new trace
// when parent is not a valid traceparent.
func ChildTraceParent(parent string) string {
	parts := strings.Split(parent, "-")
	if len(parts) == 4 && len(parts[1]) == 32 && isHex(parts[1]) && parts[1] != strings.Repeat("0", 32) {
		return "00-" + parts[1] + "-" + randomHex(8) + "-" + flags(parts[3])
	}
	return "00-" + randomHex(16) + "-" + randomHex(8) + "-01"
}

func flags(f string) string {
	if len(f) == 2 && isHex(f) {
		return f
	}
	return "01"
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

func randomHex(n int) string {
	b := make([]byte, n)
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

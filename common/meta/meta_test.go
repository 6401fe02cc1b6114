package meta_test

import (
	"context"
	"testing"

	"ticketing/common/meta"
)

func TestTraceParentRoundTrip(t *testing.T) {
	if tp := meta.TraceParent(context.Background()); tp != "" {
		t.Errorf("traceparent %q without a span", tp)
	}
	for _, bad := range []string{"", "00-zz-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "junk"} {
		if id := meta.TraceID(meta.WithTraceParent(context.Background(), bad)); id != "" {
			t.Errorf("trace id %q from %q", id, bad)
		}
	}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := meta.WithTraceParent(context.Background(), tp)
	if got := meta.TraceParent(ctx); got != tp {
		t.Errorf("traceparent %q, want %q", got, tp)
	}
	if id := meta.TraceID(ctx); id != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace id %q", id)
	}
}

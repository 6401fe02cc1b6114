package web_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"ticketing/common/meta"
	"ticketing/common/testkit"
	"ticketing/common/web"
)

func TestRequestSpanContinuesTheCallersTraceAndIsLogged(t *testing.T) {
	spans := testkit.Spans(t)
	var logs bytes.Buffer
	r := web.NewRouter(meta.NewLogger(&logs, "json", "info", "test"), nil)
	web.Health(r, web.Probes{})
	var inHandler string
	r.Get("/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		inHandler = meta.TraceParent(r.Context())
		w.WriteHeader(http.StatusTeapot)
	})

	const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req := httptest.NewRequest("GET", "/items/42", nil)
	req.Header.Set("traceparent", caller)
	req.Header.Set("X-Request-Id", "req-1")
	r.ServeHTTP(httptest.NewRecorder(), req)
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))

	got := spans.GetSpans()
	if len(got) != 1 {
		t.Fatalf("%d spans, want 1 (none for the probe): %v", len(got), got)
	}
	s := got[0]
	if s.Name != "GET /items/{id}" || s.SpanKind != trace.SpanKindServer {
		t.Errorf("span %q kind %v, want GET /items/{id}, server", s.Name, s.SpanKind)
	}
	if s.SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("span %s parent %s does not continue the caller's trace", s.SpanContext.TraceID(), s.Parent.SpanID())
	}
	if want := "00-" + s.SpanContext.TraceID().String() + "-" + s.SpanContext.SpanID().String() + "-01"; inHandler != want {
		t.Errorf("handler sees traceparent %q, want %q", inHandler, want)
	}
	attrs := map[string]string{}
	for _, a := range s.Attributes {
		attrs[string(a.Key)] = a.Value.String()
	}
	if attrs["http.route"] != "/items/{id}" || attrs["http.response.status_code"] != "418" {
		t.Errorf("attributes %v", attrs)
	}
	line, _, _ := strings.Cut(logs.String(), "\n")
	if !strings.Contains(line, `"request_id":"req-1"`) || !strings.Contains(line, `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`) {
		t.Errorf("access log line lacks the request or trace id: %s", line)
	}
}

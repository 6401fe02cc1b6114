package telemetry_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"ticketing/common/meta"
	"ticketing/common/telemetry"
)

var quiet = slog.New(slog.DiscardHandler)

func TestWithoutEndpointSpansHaveIDsButAreNotRecorded(t *testing.T) {
	otel.SetTracerProvider(noop.NewTracerProvider())
	shutdown, err := telemetry.Setup("orders", "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	ctx, span := otel.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	if sc := span.SpanContext(); !sc.IsValid() || sc.IsSampled() || span.IsRecording() {
		t.Fatalf("span context %+v, recording %v: want valid ids, not sampled, not recorded", sc, span.IsRecording())
	}
	if tp := meta.TraceParent(ctx); !strings.HasSuffix(tp, "-00") || meta.TraceID(ctx) == "" {
		t.Fatalf("traceparent %q", tp)
	}
}

func TestWithEndpointSpansAreExportedByOTLPHTTP(t *testing.T) {
	otel.SetTracerProvider(noop.NewTracerProvider())
	got := make(chan *http.Request, 10)
	bodies := make(chan []byte, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer srv.Close()
	shutdown, err := telemetry.Setup("orders", srv.URL+"/", quiet)
	if err != nil {
		t.Fatal(err)
	}
	_, span := otel.Tracer("test").Start(context.Background(), "POST /api/orders/")
	span.End()
	if err := shutdown(context.Background()); err != nil { // flushes the batch
		t.Fatal(err)
	}
	select {
	case r := <-got:
		body := <-bodies
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("export to %s as %s", r.URL.Path, r.Header.Get("Content-Type"))
		}
		if !bytes.Contains(body, []byte("POST /api/orders/")) || !bytes.Contains(body, []byte("orders")) {
			t.Errorf("export lacks the span or the service name: %q", body)
		}
	default:
		t.Fatal("nothing exported")
	}
}

func TestAnInstalledProviderIsKept(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	otel.SetTracerProvider(tp)
	if _, err := telemetry.Setup("orders", "http://127.0.0.1:1", quiet); err != nil {
		t.Fatal(err)
	}
	if otel.GetTracerProvider() != tp {
		t.Fatal("Setup replaced the provider installed before it")
	}
}

func TestCheckEndpoint(t *testing.T) {
	for ep, ok := range map[string]bool{
		"http://otel-collector:4318": true, "https://otlp.example.com": true,
		"otel-collector:4318": false, "grpc://x:4317": false, "http://": false,
	} {
		if err := telemetry.CheckEndpoint(ep); (err == nil) != ok {
			t.Errorf("%q: %v", ep, err)
		}
	}
}

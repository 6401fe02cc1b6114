// Package telemetry installs the process's OpenTelemetry tracer provider. The HTTP middleware
// (common/web) and the event publisher and listener (common/bus) start the spans through the
// global provider; common/meta carries the W3C trace context in and out of events and puts
// the trace id on log lines.
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

var mu sync.Mutex

// Setup installs the tracer provider of service name and returns the function that flushes
// and stops it (call it last, on shutdown).
//
// With an endpoint (OTEL_EXPORTER_OTLP_ENDPOINT, the collector's OTLP/HTTP base URL such as
// http://otel-collector:4318) spans go to <endpoint>/v1/traces in batches, sampled as
// OTEL_TRACES_SAMPLER says (parent-based, always on, by default). Without one, spans are
// never sampled or exported, so they cost little, but they still get W3C trace ids: the ids
// flow through events and onto log lines either way.
//
// There is one provider per process. When one is already installed (by another service of
// the in-process dev stack, or by a test with an in-memory exporter) it is kept as it is.
func Setup(name, endpoint string, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	mu.Lock()
	defer mu.Unlock()
	noop := func(context.Context) error { return nil }
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); ok {
		return noop, nil
	}
	otel.SetTextMapPropagator(propagation.TraceContext{})
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("opentelemetry", "err", err)
	}))
	if endpoint == "" {
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())))
		return noop, nil // nothing to flush; stopping it would turn later spans into no-ops
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(TracesURL(endpoint)))
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", name)))
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// TracesURL is where traces go for an OTLP/HTTP endpoint: <endpoint>/v1/traces.
func TracesURL(endpoint string) string {
	return strings.TrimSuffix(endpoint, "/") + "/v1/traces"
}

// CheckEndpoint says what is wrong with an OTLP/HTTP endpoint, or nil.
func CheckEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL with a host", endpoint)
	}
	return nil
}

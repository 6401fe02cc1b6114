package testkit

import (
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Spans makes the process's tracer provider one that samples every span and keeps the ended
// ones in memory, and returns them. Services started afterwards in the process use it
// (telemetry.Setup keeps a provider already installed). At the end of the test a provider
// that samples nothing takes its place, so later tests still get trace ids. Tests that read
// spans must not run in parallel with each other.
func Spans(t testing.TB) *tracetest.InMemoryExporter {
	exp := tracetest.NewInMemoryExporter()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.AlwaysSample())))
	t.Cleanup(func() {
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())))
		exp.Reset()
	})
	return exp
}

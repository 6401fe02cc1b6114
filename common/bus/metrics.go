package bus

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

var (
	publishedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "ticketing_events_published_total",
		Help: "Events acknowledged by JetStream, by subject and whether JetStream dropped them as duplicates.",
	}, []string{"subject", "duplicate"})
	handledTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "ticketing_events_handled_total",
		Help: "Event deliveries handled by a consumer, by outcome: ack, retry (handler error), not_yet (out of order), dead_letter.",
	}, []string{"subject", "consumer", "outcome"})
	handleSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ticketing_event_handle_duration_seconds",
		Help:    "Time spent in event handlers.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10),
	}, []string{"subject", "consumer"})
	deadLetteredTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "ticketing_events_dead_lettered_total",
		Help: "Events a consumer gave up on and copied to its dead-letter subject, by subject and consumer.",
	}, []string{"subject", "consumer"})
	outboxPublished = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "ticketing_outbox_relayed_total",
		Help: "Outbox events published and removed from their documents, by collection.",
	}, []string{"collection"})
	outboxOldest = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ticketing_outbox_oldest_pending_seconds",
		Help: "Age of the oldest outbox event found pending by the last poll, by collection.",
	}, []string{"collection"})
	outboxPending = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ticketing_outbox_pending_events",
		Help: "Outbox events found pending by the last poll, by collection.",
	}, []string{"collection"})
)

// observePublished counts an acknowledged publish and notes on its span whether JetStream
// dropped it as a duplicate.
func observePublished(span trace.Span, subject string, duplicate bool) {
	publishedTotal.WithLabelValues(subject, strconv.FormatBool(duplicate)).Inc()
	span.SetAttributes(attribute.Bool("ticketing.event.duplicate", duplicate))
}

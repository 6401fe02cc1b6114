package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// paymentsTotal counts payment attempts by how they ended, once each (a retried request or a
// redelivered webhook that changes nothing is not counted again).
var paymentsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "ticketing_payments_total",
	Help: "Payment attempts by outcome: succeeded (charged), declined (the card was declined), " +
		"failed (invalid payment details, or Stripe's payment_intent.payment_failed), refunded (charged, then refunded: the order was cancelled).",
}, []string{"outcome"})

// paymentsReconciledTotal counts the payments the reconciler settled because their webhook
// did not come, by what the processor said.
var paymentsReconciledTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "ticketing_payments_reconciled_total",
	Help: "Payments settled by the reconciler (their webhook did not come), by the processor's outcome: succeeded, failed.",
}, []string{"outcome"})

func init() { // every series exported from the start, at 0
	for _, o := range []string{"succeeded", "declined", "failed", "refunded"} {
		paymentsTotal.WithLabelValues(o)
	}
	for _, o := range []string{"succeeded", "failed"} {
		paymentsReconciledTotal.WithLabelValues(o)
	}
}

// countFailure counts an attempt marked failed, when the write applied.
func countFailure(outcome string, applied bool) {
	if applied {
		paymentsTotal.WithLabelValues(outcome).Inc()
	}
}

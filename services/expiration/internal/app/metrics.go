package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	latenessSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "ticketing_expiration_lateness_seconds",
		Help:    "Time from an order's expiresAt to JetStream's acknowledgement of its expiration.completed.",
		Buckets: []float64{.005, .01, .025, .05, .1, .2, .3, .5, .75, 1, 1.5, 2, 5, 10, 30, 60, 300},
	})
	runsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "ticketing_expiration_runs_total",
		Help: "Runs of expiry jobs by outcome: published, too_early (put back until due), failed (retried), invalid (dropped).",
	}, []string{"outcome"})
)

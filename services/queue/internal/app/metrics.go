package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var admittedTotal = promauto.NewCounter(prometheus.CounterOpts{
	Name: "ticketing_queue_admitted_total",
	Help: "Buyers admitted from the waiting rooms (given a pass).",
})

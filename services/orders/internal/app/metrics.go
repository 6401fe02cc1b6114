package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"ticketing/common/events"
)

// Causes of a cancellation, the cause label of ticketing_orders_total.
const (
	causeUser     = "user"      // the owner cancelled
	causeExpired  = "expired"   // the reservation window ended
	causeLostHold = "lost_hold" // the payment landed after the hold lapsed and another order took the ticket
	// the tickets service refused the reservation: the seller edited the ticket first
	causeTicketChanged = "ticket_changed"
)

var (
	holdsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "ticketing_order_holds_total",
		Help: "Attempts to hold a ticket for a new order, by outcome: taken, or refused (another live order holds it).",
	}, []string{"outcome"})
	ordersTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "ticketing_orders_total",
		Help: "Orders reaching a status (created, cancelled, complete), by status and, for cancelled, cause (user, expired, lost_hold, ticket_changed).",
	}, []string{"status", "cause"})
)

func init() { // every series exported from the start, at 0
	holdsTotal.WithLabelValues("taken")
	holdsTotal.WithLabelValues("refused")
	ordersTotal.WithLabelValues(string(events.OrderStatusCreated), "")
	ordersTotal.WithLabelValues(string(events.OrderStatusComplete), "")
	for _, cause := range []string{causeUser, causeExpired, causeLostHold, causeTicketChanged} {
		ordersTotal.WithLabelValues(string(events.OrderStatusCancelled), cause)
	}
}

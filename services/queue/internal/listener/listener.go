// Package listener handles the events the waiting room consumes: event.created (an event's
// sale) and the orders of its tickets (order.created, order.cancelled, order.completed), from
// which it follows how many tickets are free. Orders of tickets of no event are ignored.
package listener

import (
	"context"

	"ticketing/common/events"
	"ticketing/services/queue/internal/app"
	"ticketing/services/queue/internal/line"
)

// Handlers are the service's event handlers; each is safe to run twice.
type Handlers struct{ App *app.Service }

// EventCreated keeps the event's sale.
func (h Handlers) EventCreated(ctx context.Context, e events.EventCreated) error {
	return h.App.AddSale(ctx, line.Sale{EventID: e.ID, OnSaleAt: e.OnSaleAt, AdmitPerMinute: e.AdmitPerMinute, TicketCount: e.TicketCount})
}

// OrderCreated: the order holds its ticket, and its buyer has ordered.
func (h Handlers) OrderCreated(ctx context.Context, e events.OrderCreated) error {
	return h.apply(ctx, app.OrderCreated, e.Ticket, e.ID, e.UserID)
}

// OrderCancelled: the ticket is free again (if that order held it).
func (h Handlers) OrderCancelled(ctx context.Context, e events.OrderCancelled) error {
	return h.apply(ctx, app.OrderCancelled, e.Ticket, e.ID, "")
}

// OrderCompleted: the ticket is sold.
func (h Handlers) OrderCompleted(ctx context.Context, e events.OrderCompleted) error {
	return h.apply(ctx, app.OrderCompleted, e.Ticket, e.ID, "")
}

func (h Handlers) apply(ctx context.Context, kind string, t events.TicketRef, orderID, userID string) error {
	if t.EventID == "" {
		return nil
	}
	return h.App.ApplyOrder(ctx, kind, t.EventID, t.ID, orderID, userID)
}

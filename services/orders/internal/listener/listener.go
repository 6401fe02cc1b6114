// Package listener handles the events the orders service consumes, through the application:
// the tickets it keeps a replica of, the expiry of reservations, and payments. It maps each
// outcome to the bus.
package listener

import (
	"context"
	"errors"
	"log/slog"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/services/orders/internal/app"
	"ticketing/services/orders/internal/order"
)

// Handlers are the service's event handlers. Each is safe to run twice for one event.
type Handlers struct {
	App *app.Service
	Log *slog.Logger
}

// TicketCreated adds a ticket to the replica, free. A redelivery is acked.
func (h Handlers) TicketCreated(ctx context.Context, e events.TicketCreated) error {
	out, err := h.App.AddTicket(ctx, order.Ticket{ID: e.ID, Title: e.Title, PriceCents: e.PriceCents, Version: e.Version, SellerID: e.UserID})
	if err != nil {
		return err
	}
	h.Log.DebugContext(ctx, "ticket.created", "ticket_id", e.ID, "version", e.Version, "outcome", out.String())
	return out.Err()
}

// TicketUpdated applies version v of a ticket when the replica holds an earlier one (the
// tickets service announces its edits only, so versions may be skipped); a version already
// applied or overtaken is acked and dropped, one for a ticket not replicated yet waits
// (bus.ErrNotYet). The
// ticket's orderId is the tickets service's view and is ignored: holds are this service's.
func (h Handlers) TicketUpdated(ctx context.Context, e events.TicketUpdated) error {
	out, err := h.App.UpdateTicket(ctx, order.Ticket{ID: e.ID, Title: e.Title, PriceCents: e.PriceCents, Version: e.Version, SellerID: e.UserID})
	if err != nil {
		return err
	}
	h.Log.DebugContext(ctx, "ticket.updated", "ticket_id", e.ID, "version", e.Version, "outcome", out.String())
	return out.Err()
}

// ExpirationCompleted cancels the order unless it is complete. An expiry that arrives before
// the order's expiresAt, or before the order is visible, waits.
func (h Handlers) ExpirationCompleted(ctx context.Context, e events.ExpirationCompleted) error {
	return notYet(h.App.Expire(ctx, e.OrderID))
}

// PaymentCreated completes the order unless it was cancelled (payments then refunds it).
func (h Handlers) PaymentCreated(ctx context.Context, e events.PaymentCreated) error {
	return notYet(h.App.Pay(ctx, e.OrderID))
}

// notYet turns the errors that time cures into bus.ErrNotYet.
func notYet(err error) error {
	if errors.Is(err, order.ErrNotFound) || errors.Is(err, order.ErrTooEarly) {
		return bus.ErrNotYet
	}
	return err
}

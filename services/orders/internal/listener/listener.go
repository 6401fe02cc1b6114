// Package listener handles the events the orders service consumes, through the application:
// the tickets it keeps a replica of, the expiry of reservations, and payments. It maps each
// outcome to the bus.
package listener

import (
	"context"
	"errors"
	"log/slog"
	"time"

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
	out, err := h.App.AddTicket(ctx, order.Ticket{ID: e.ID, Title: e.Title, PriceCents: e.PriceCents, Version: e.Version, SellerID: e.UserID, EventID: e.EventID})
	if err != nil {
		return err
	}
	h.Log.DebugContext(ctx, "ticket.created", "ticket_id", e.ID, "version", e.Version, "outcome", out.String())
	return out.Err()
}

// EventCreated keeps an event's on-sale time and per-user limit. A redelivery is acked.
func (h Handlers) EventCreated(ctx context.Context, e events.EventCreated) error {
	out, err := h.App.AddSale(ctx, order.Sale{EventID: e.ID, OnSaleAt: e.OnSaleAt, MaxPerUser: e.MaxPerUser}, e.Version)
	if err != nil {
		return err
	}
	h.Log.DebugContext(ctx, "event.created", "event_id", e.ID, "outcome", out.String())
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

// TicketRefused cancels the order whose reservation the tickets service refused: the ticket
// was edited after the replica saw it.
func (h Handlers) TicketRefused(ctx context.Context, e events.TicketRefused) error {
	h.Log.InfoContext(ctx, "ticket.refused", "ticket_id", e.ID, "order_id", e.OrderID, "version", e.Version, "reason", e.Reason)
	return notYet(h.App.TicketChanged(ctx, e.OrderID))
}

// ExpirationCompleted cancels the order unless it is complete. An expiry that arrives before
// the order's expiresAt, or before the order is visible, waits.
// An expiry scheduled for a deadline the order no longer has (extended for a payment) is
// dropped.
func (h Handlers) ExpirationCompleted(ctx context.Context, e events.ExpirationCompleted) error {
	var scheduled time.Time
	if e.ExpiresAt != nil {
		scheduled = *e.ExpiresAt
	}
	return notYet(h.App.ExpireJob(ctx, e.OrderID, scheduled))
}

// PaymentStarted holds a live order for its payment: awaiting:payment, its deadline
// extended once.
func (h Handlers) PaymentStarted(ctx context.Context, e events.PaymentStarted) error {
	return notYet(h.App.StartPayment(ctx, e.OrderID, e.Attempt))
}

// PaymentFailed returns the order to created with its original deadline, or expires it. A
// failure whose start has not been applied yet waits for it.
func (h Handlers) PaymentFailed(ctx context.Context, e events.PaymentFailed) error {
	return notYet(h.App.FailPayment(ctx, e.OrderID, e.Attempt))
}

// PaymentRefunded records the refund in the order's history.
func (h Handlers) PaymentRefunded(ctx context.Context, e events.PaymentRefunded) error {
	return notYet(h.App.Refunded(ctx, e.OrderID))
}

// PaymentCreated completes the order unless it was cancelled (payments then refunds it).
func (h Handlers) PaymentCreated(ctx context.Context, e events.PaymentCreated) error {
	return notYet(h.App.Pay(ctx, e.OrderID))
}

// notYet turns the errors that time cures into bus.ErrNotYet.
func notYet(err error) error {
	if errors.Is(err, order.ErrNotFound) || errors.Is(err, order.ErrTooEarly) || errors.Is(err, order.ErrAttemptNotStarted) {
		return bus.ErrNotYet
	}
	return err
}

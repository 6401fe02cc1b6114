// Package listener keeps the payments service's replica of orders from the orders events,
// and refunds a payment whose order was cancelled while its card was charged, through the
// application; it maps each outcome to the bus.
package listener

import (
	"context"
	"log/slog"

	"ticketing/common/events"
	"ticketing/services/payments/internal/app"
)

// Handlers are the event handlers.
type Handlers struct {
	App *app.Service
	Log *slog.Logger
}

// OrderCreated inserts the order into the replica; a redelivery is acknowledged.
func (h *Handlers) OrderCreated(ctx context.Context, e events.OrderCreated) error {
	_, err := h.App.AddOrder(ctx, e)
	return err
}

// OrderUpdated applies the order's new status and deadline in version order.
func (h *Handlers) OrderUpdated(ctx context.Context, e events.OrderUpdated) error {
	out, err := h.App.OrderUpdated(ctx, e)
	if err != nil {
		return err
	}
	return out.Err()
}

// OrderCompleted applies the order's completion in version order.
func (h *Handlers) OrderCompleted(ctx context.Context, e events.OrderCompleted) error {
	out, err := h.App.OrderCompleted(ctx, e.ID, e.Version)
	if err != nil {
		return err
	}
	return out.Err()
}

// OrderCancelled applies the cancellation in version order, then refunds the order's payment
// if it succeeded; while the payment is still processing, the event is offered again later
// (app.ErrSettling is a bus.ErrNotYet).
func (h *Handlers) OrderCancelled(ctx context.Context, e events.OrderCancelled) error {
	out, err := h.App.OrderCancelled(ctx, e.ID, e.Version)
	if err != nil {
		return err
	}
	return out.Err()
}

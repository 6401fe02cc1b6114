// Package listener keeps the payments service's replica of orders from the orders events, and
// refunds a payment whose order was cancelled while its card was charged.
package listener

import (
	"context"
	"log/slog"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/services/payments/internal/checkout"
	"ticketing/services/payments/internal/payment"
	"ticketing/services/payments/internal/store"
)

// Handlers are the event handlers.
type Handlers struct {
	Store    *store.Store
	Checkout *checkout.Service
	Log      *slog.Logger
}

func notYet(a store.Applied) error {
	if a == store.TooEarly {
		return bus.ErrNotYet
	}
	return nil
}

// OrderCreated inserts the order into the replica; a redelivery is acknowledged.
func (h *Handlers) OrderCreated(ctx context.Context, e events.OrderCreated) error {
	status := payment.OrderStatus(e.Status)
	if status == "" {
		status = payment.OrderCreated
	}
	_, err := h.Store.InsertOrder(ctx, payment.Order{ID: e.ID, UserID: e.UserID, PriceCents: e.Ticket.PriceCents,
		Status: status, Version: e.Version, ExpiresAt: e.ExpiresAt, TicketID: e.Ticket.ID})
	return err
}

// OrderCompleted applies the order's completion in version order.
func (h *Handlers) OrderCompleted(ctx context.Context, e events.OrderCompleted) error {
	a, err := h.Store.SetOrderStatus(ctx, e.ID, e.Version, payment.OrderComplete)
	if err != nil {
		return err
	}
	return notYet(a)
}

// OrderCancelled applies the cancellation in version order, then refunds the order's payment
// if it succeeded. While the payment is still processing it returns bus.ErrNotYet, to look
// again once the charge settled (the charge's own path also refunds when it sees the order
// cancelled, so the refund happens whichever comes last).
func (h *Handlers) OrderCancelled(ctx context.Context, e events.OrderCancelled) error {
	a, err := h.Store.SetOrderStatus(ctx, e.ID, e.Version, payment.OrderCancelled)
	if err != nil {
		return err
	}
	if a == store.TooEarly {
		return bus.ErrNotYet
	}
	if a == store.Duplicate {
		// Redelivered, maybe after ErrNotYet: refund only if the order is still cancelled.
		o, err := h.Store.Order(ctx, e.ID)
		if err != nil {
			return err
		}
		if o.Status != payment.OrderCancelled {
			return nil
		}
	}
	return h.Checkout.OrderCancelled(ctx, e.ID)
}

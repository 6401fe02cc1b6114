// Package listener turns order events into expiry jobs through the application: scheduled
// on order.created and order.updated, dropped on order.cancelled and order.completed.
package listener

import (
	"context"
	"errors"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/services/expiration/internal/app"
	"ticketing/services/expiration/internal/expiry"
)

// Handlers are the event handlers of the expiration service.
type Handlers struct{ app *app.Service }

// New returns the handlers that act through a.
func New(a *app.Service) Handlers { return Handlers{app: a} }

// OrderCreated schedules the order's expiry at its expiresAt. A redelivery schedules nothing
// more: the order id is the job's id.
func (h Handlers) OrderCreated(ctx context.Context, e events.OrderCreated) error {
	err := h.app.Schedule(ctx, e.ID, e.ExpiresAt)
	if errors.Is(err, expiry.ErrInvalid) {
		return bus.Permanent(err)
	}
	return err
}

// OrderUpdated schedules the order's expiry at its new deadline (a payment started or
// failed).
func (h Handlers) OrderUpdated(ctx context.Context, e events.OrderUpdated) error {
	err := h.app.Reschedule(ctx, e.ID, e.ExpiresAt)
	if errors.Is(err, expiry.ErrInvalid) {
		return bus.Permanent(err)
	}
	return err
}

// OrderCancelled drops the order's expiry. If it comes before the order's order.created
// (events of different subjects may be reordered), that later order.created schedules a job
// that fires for a cancelled order, which the order service ignores.
func (h Handlers) OrderCancelled(ctx context.Context, e events.OrderCancelled) error {
	return h.app.Cancel(ctx, e.ID)
}

// OrderCompleted drops the order's expiry: a paid order never expires.
func (h Handlers) OrderCompleted(ctx context.Context, e events.OrderCompleted) error {
	return h.app.Cancel(ctx, e.ID)
}

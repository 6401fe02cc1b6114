// Package listener turns order events into expiry jobs: scheduled on order.created, dropped
// on order.cancelled and order.completed.
package listener

import (
	"context"

	"ticketing/common/bus"
	"ticketing/common/events"

	"ticketing/services/expiration/internal/expiry"
)

// Scheduler keeps the expiry jobs. Both methods are idempotent.
type Scheduler interface {
	Schedule(ctx context.Context, job expiry.Job) error
	Cancel(ctx context.Context, orderID string) error
}

// Handlers are the event handlers of the expiration service.
type Handlers struct{ s Scheduler }

// New returns the handlers that act on s.
func New(s Scheduler) Handlers { return Handlers{s: s} }

// OrderCreated schedules the order's expiry at its expiresAt. A redelivery schedules nothing
// more: the order id is the job's id.
func (h Handlers) OrderCreated(ctx context.Context, e events.OrderCreated) error {
	job, err := expiry.NewJob(e.ID, e.ExpiresAt)
	if err != nil {
		return bus.Permanent(err)
	}
	return h.s.Schedule(ctx, job)
}

// OrderCancelled drops the order's expiry. If it comes before the order's order.created
// (events of different subjects may be reordered), that later order.created schedules a job
// that fires for a cancelled order, which the order service ignores.
func (h Handlers) OrderCancelled(ctx context.Context, e events.OrderCancelled) error {
	return h.s.Cancel(ctx, e.ID)
}

// OrderCompleted drops the order's expiry: a paid order never expires.
func (h Handlers) OrderCompleted(ctx context.Context, e events.OrderCompleted) error {
	return h.s.Cancel(ctx, e.ID)
}

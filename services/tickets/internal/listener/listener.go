// Package listener applies the orders service's events to tickets through the application:
// order.created reserves, order.cancelled releases, order.completed sells. It maps the
// outcome to the bus: an event that comes too early is offered again later, one that can
// never apply goes to the dead letters. Each handler is idempotent: a redelivered event finds
// its effect stored and writes and publishes nothing.
package listener

import (
	"context"
	"errors"
	"fmt"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/services/tickets/internal/app"
	"ticketing/services/tickets/internal/ticket"
)

// Listener holds the handlers.
type Listener struct {
	app *app.Service
}

// New makes the handlers.
func New(svc *app.Service) *Listener { return &Listener{app: svc} }

// OrderCreated marks the ticket reserved by the order, or refuses the order when the ticket
// was edited after the version the order saw (publishing ticket.refused).
func (l *Listener) OrderCreated(ctx context.Context, e events.OrderCreated) error {
	return outcome(e.Ticket.ID, l.app.Reserve(ctx, e.Ticket.ID, e.ID, e.Ticket.Version))
}

// OrderCancelled releases the ticket if the order holds it, and records the order as
// cancelled in any case.
func (l *Listener) OrderCancelled(ctx context.Context, e events.OrderCancelled) error {
	return outcome(e.Ticket.ID, l.app.Release(ctx, e.Ticket.ID, e.ID))
}

// OrderCompleted marks the ticket sold to the order.
func (l *Listener) OrderCompleted(ctx context.Context, e events.OrderCompleted) error {
	return outcome(e.Ticket.ID, l.app.Sell(ctx, e.Ticket.ID, e.ID))
}

// outcome maps the application's answer to the bus's.
func outcome(ticketID string, err error) error {
	switch {
	case errors.Is(err, ticket.ErrNotFound):
		// The ticket is created before any order can name it; a stream replayed out of
		// order (or an order for a ticket of another deployment) ends in the dead letters.
		return fmt.Errorf("ticket %s not found: %w", ticketID, bus.ErrNotYet)
	case errors.Is(err, ticket.ErrNotYet):
		return fmt.Errorf("%v: %w", err, bus.ErrNotYet)
	case errors.Is(err, ticket.ErrImpossible):
		return bus.Permanent(err)
	}
	return err
}

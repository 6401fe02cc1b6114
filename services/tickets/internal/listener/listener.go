// Package listener applies the orders service's events to tickets: order.created reserves,
// order.cancelled releases, order.completed sells. Each handler is idempotent: a redelivered
// event finds its effect stored and writes and publishes nothing.
package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/services/tickets/internal/store"
	"ticketing/services/tickets/internal/ticket"
)

// attempts bounds the read-compute-write rounds of one delivery when other writes win the
// race; after that the event is retried by the bus with backoff.
const attempts = 5

// Listener holds the handlers.
type Listener struct {
	store  *store.Store
	outbox bus.Notifier
	log    *slog.Logger
}

// New makes the handlers.
func New(st *store.Store, outbox bus.Notifier, log *slog.Logger) *Listener {
	return &Listener{store: st, outbox: outbox, log: log}
}

// OrderCreated marks the ticket reserved by the order.
func (l *Listener) OrderCreated(ctx context.Context, e events.OrderCreated) error {
	return l.apply(ctx, e.Ticket.ID, e.ID, events.SubjectOrderCreated, func(t ticket.Ticket) (ticket.Ticket, error) {
		return t.Reserve(e.ID)
	})
}

// OrderCancelled releases the ticket if the order holds it, and records the order as
// cancelled in any case.
func (l *Listener) OrderCancelled(ctx context.Context, e events.OrderCancelled) error {
	return l.apply(ctx, e.Ticket.ID, e.ID, events.SubjectOrderCancelled, func(t ticket.Ticket) (ticket.Ticket, error) {
		return t.Release(e.ID), nil
	})
}

// OrderCompleted marks the ticket sold to the order.
func (l *Listener) OrderCompleted(ctx context.Context, e events.OrderCompleted) error {
	return l.apply(ctx, e.Ticket.ID, e.ID, events.SubjectOrderCompleted, func(t ticket.Ticket) (ticket.Ticket, error) {
		return t.Sell(e.ID)
	})
}

func (l *Listener) apply(ctx context.Context, ticketID, orderID, subject string, change func(ticket.Ticket) (ticket.Ticket, error)) error {
	t, queued, err := l.store.Update(ctx, ticketID, attempts, change)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// The ticket is created before any order can name it; a stream replayed out of
		// order (or an order for a ticket of another deployment) ends in the dead letters.
		return fmt.Errorf("ticket %s not found: %w", ticketID, bus.ErrNotYet)
	case errors.Is(err, ticket.ErrNotYet):
		return fmt.Errorf("ticket %s, order %s (held by %q): %w", ticketID, orderID, t.OrderID, bus.ErrNotYet)
	case errors.Is(err, ticket.ErrImpossible):
		return bus.Permanent(fmt.Errorf("ticket %s (order %q, sold %t), order %s: %w", ticketID, t.OrderID, t.Sold, orderID, err))
	case err != nil:
		return err
	}
	if len(queued) > 0 {
		l.outbox.Notify(ticketID, queued...)
		l.log.InfoContext(ctx, "order event applied", "event", subject, "ticket", ticketID, "order", orderID,
			"version", t.Version, "held_by", t.OrderID, "sold", t.Sold)
	}
	return nil
}

// Package order is the order aggregate: its states, the events that move it between them,
// and the rules a caller must respect (who may see it, when it may expire). It imports no
// driver, bus or HTTP package.
package order

import (
	"errors"
	"fmt"
	"time"
)

// Status is where an order is in its life.
type Status string

// The statuses of docs/API.md. Created and AwaitingPayment are live: the order holds its ticket.
// Cancelled and Complete are final.
const (
	Created         Status = "created"
	AwaitingPayment Status = "awaiting:payment"
	Cancelled       Status = "cancelled"
	Complete        Status = "complete"
)

// Statuses lists every status, in life order.
var Statuses = []Status{Created, AwaitingPayment, Cancelled, Complete}

// Live reports whether an order in status s holds its ticket and may still change.
func (s Status) Live() bool { return s == Created || s == AwaitingPayment }

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case Created, AwaitingPayment, Cancelled, Complete:
		return true
	}
	return false
}

// Event is something that happens to an order.
type Event int

// The events an order reacts to.
const (
	// CancelByUser: the owner cancels (DELETE /api/orders/{id}).
	CancelByUser Event = iota + 1
	// Expire: the reservation window ended (expiration.completed, the sweeper), or the hold on
	// the ticket lapsed and another order took it before the payment landed.
	Expire
	// Pay: the payment succeeded (payment.created).
	Pay
)

// Events lists every event.
var Events = []Event{CancelByUser, Expire, Pay}

func (e Event) String() string {
	switch e {
	case CancelByUser:
		return "cancel"
	case Expire:
		return "expire"
	case Pay:
		return "pay"
	}
	return fmt.Sprintf("Event(%d)", int(e))
}

// Errors of the order rules. Callers map them to HTTP statuses or bus outcomes.
var (
	// ErrNotFound: no such order (also a malformed id).
	ErrNotFound = errors.New("order not found")
	// ErrForbidden: the order belongs to another user.
	ErrForbidden = errors.New("order belongs to another user")
	// ErrComplete: a paid order cannot be cancelled.
	ErrComplete = errors.New("order is complete")
	// ErrCancelled: a payment arrived for a cancelled order; payments refunds it (it listens to
	// order.cancelled), nothing changes here.
	ErrCancelled = errors.New("order is cancelled")
	// ErrTooEarly: an expiry arrived before the order's expiresAt; it is never applied early.
	ErrTooEarly = errors.New("order has not expired yet")
	// ErrTicketNotFound: the ticket is unknown to this service's replica.
	ErrTicketNotFound = errors.New("ticket not found")
	// ErrTicketReserved: another live order holds the ticket.
	ErrTicketReserved = errors.New("ticket is already reserved")
	// ErrUnknownStatus: a stored status this code does not know.
	ErrUnknownStatus = errors.New("unknown order status")
)

// Next is the status an order in status s moves to on event e. When the returned status is s
// itself the event changes nothing (it was already applied, or it is moot: an expiry of a
// paid order). The errors say why an event cannot apply:
//
//	            cancel         expire      pay
//	created     cancelled      cancelled   complete
//	awaiting    cancelled      cancelled   complete
//	cancelled   cancelled      cancelled   ErrCancelled
//	complete    ErrComplete    complete    complete
func Next(s Status, e Event) (Status, error) {
	switch s {
	case Created, AwaitingPayment:
		switch e {
		case CancelByUser, Expire:
			return Cancelled, nil
		case Pay:
			return Complete, nil
		}
	case Cancelled:
		switch e {
		case CancelByUser, Expire:
			return Cancelled, nil
		case Pay:
			return Cancelled, ErrCancelled
		}
	case Complete:
		switch e {
		case CancelByUser:
			return Complete, ErrComplete
		case Expire, Pay:
			return Complete, nil
		}
	default:
		return s, fmt.Errorf("%w %q", ErrUnknownStatus, s)
	}
	return s, fmt.Errorf("order: unknown event %v", e)
}

// Ticket is the ticket an order holds, as the replica knew it when the order was placed.
type Ticket struct {
	ID         string
	Title      string
	PriceCents int64
	Version    int64
}

// Order is a user's reservation of one ticket.
type Order struct {
	ID        string
	UserID    string
	Status    Status
	ExpiresAt time.Time
	Version   int64
	Ticket    Ticket
}

// New is a fresh order of userID for ticket, placed at now, expiring after window.
func New(id, userID string, ticket Ticket, now time.Time, window time.Duration) Order {
	return Order{
		ID:        id,
		UserID:    userID,
		Status:    Created,
		ExpiresAt: now.Add(window).UTC(),
		Version:   0,
		Ticket:    ticket,
	}
}

// VisibleTo returns ErrForbidden unless userID owns the order.
func (o Order) VisibleTo(userID string) error {
	if o.UserID != userID {
		return ErrForbidden
	}
	return nil
}

// CheckExpiry returns ErrTooEarly while now is before the order's expiresAt.
func (o Order) CheckExpiry(now time.Time) error {
	if now.Before(o.ExpiresAt) {
		return ErrTooEarly
	}
	return nil
}

// Package order is the order aggregate: its statuses (declared in the event contract,
// events.OrderStatus), the events that move it between them, the rules a caller must
// respect (who may see it, when it may expire), the events that announce it, and the Hold
// an order keeps on its ticket. It imports no driver, bus or HTTP package.
package order

import (
	"errors"
	"fmt"
	"time"

	"ticketing/common/events"
)

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
	// ErrOwnTicket: the buyer is the ticket's seller.
	ErrOwnTicket = errors.New("cannot order own ticket")
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
func Next(s events.OrderStatus, e Event) (events.OrderStatus, error) {
	switch s {
	case events.OrderStatusCreated, events.OrderStatusAwaitingPayment:
		switch e {
		case CancelByUser, Expire:
			return events.OrderStatusCancelled, nil
		case Pay:
			return events.OrderStatusComplete, nil
		}
	case events.OrderStatusCancelled:
		switch e {
		case CancelByUser, Expire:
			return events.OrderStatusCancelled, nil
		case Pay:
			return events.OrderStatusCancelled, ErrCancelled
		}
	case events.OrderStatusComplete:
		switch e {
		case CancelByUser:
			return events.OrderStatusComplete, ErrComplete
		case Expire, Pay:
			return events.OrderStatusComplete, nil
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
	SellerID   string // who sells it ("" for a ticket replicated before the seller was kept)
}

// Order is a user's reservation of one ticket.
type Order struct {
	ID        string
	UserID    string
	Status    events.OrderStatus
	ExpiresAt time.Time
	Version   int64
	Ticket    Ticket
}

// New is a fresh order of userID for ticket, placed at now, expiring after window.
func New(id, userID string, ticket Ticket, now time.Time, window time.Duration) Order {
	return Order{
		ID:        id,
		UserID:    userID,
		Status:    events.OrderStatusCreated,
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

// Apply is o after event e (see Next): in its next status at the next version, or unchanged
// when e changes nothing. The error says why e cannot apply.
func (o Order) Apply(e Event) (Order, error) {
	next, err := Next(o.Status, e)
	if err != nil || next == o.Status {
		return o, err
	}
	o.Status = next
	o.Version++
	return o, nil
}

// Event is the event that announces o in its status: order.created, order.cancelled or
// order.completed, at o's version.
func (o Order) Event() events.Event {
	ref := events.TicketRef{ID: o.Ticket.ID}
	switch o.Status {
	case events.OrderStatusCancelled:
		return events.OrderCancelled{ID: o.ID, Version: o.Version, Ticket: ref}
	case events.OrderStatusComplete:
		return events.OrderCompleted{ID: o.ID, Version: o.Version, Ticket: ref}
	}
	ref.PriceCents = o.Ticket.PriceCents
	return events.OrderCreated{ID: o.ID, Version: o.Version, Status: o.Status, UserID: o.UserID,
		ExpiresAt: o.ExpiresAt, Ticket: ref}
}

// Forever is the end of a permanent hold: a paid order's, which never lapses.
var Forever = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// Hold is an order's claim on a ticket: no other order may take the ticket until the hold
// lapses or is released. The zero Hold is no hold: the ticket is free.
//
// A new order's hold lasts until its expiresAt plus a grace (HoldFor), so that it lapses by
// itself when nothing else ends it: a crash between taking the hold and storing the order,
// or an expiry that was lost. A paid order's hold is permanent (Permanent): it never lapses,
// so a paid order's ticket is never taken again.
type Hold struct {
	OrderID string    // the holding order; "" when nobody holds the ticket
	Until   time.Time // when the hold lapses by itself
}

// HoldFor is the hold that order o takes on its ticket: until its expiresAt plus grace.
func HoldFor(o Order, grace time.Duration) Hold {
	return Hold{OrderID: o.ID, Until: o.ExpiresAt.Add(grace)}
}

// Free reports whether another order may take the ticket under h at now: nobody holds it,
// or the hold lapsed before now.
func (h Hold) Free(now time.Time) bool { return h.OrderID == "" || h.Until.Before(now) }

// Permanent is h made permanent: the hold of a paid order, which never lapses.
func (h Hold) Permanent() Hold {
	h.Until = Forever
	return h
}

// IsPermanent reports whether h is an order's permanent hold.
func (h Hold) IsPermanent() bool { return h.OrderID != "" && !h.Until.Before(Forever) }

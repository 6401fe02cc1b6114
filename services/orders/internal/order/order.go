// Package order is the order aggregate: its statuses (declared in the event contract,
// events.OrderStatus), the events that move it between them, the rules a caller must
// respect (who may see it, when it may expire), the events that announce it, and the Hold
// an order keeps on its ticket. It imports no driver, bus or HTTP package.
package order

import (
	"errors"
	"fmt"
	"slices"
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
	// StartPayment: an attempt to pay started (payment.started): the order waits for it,
	// its hold extended once (Order.StartPayment).
	StartPayment
	// FailPayment: the attempt was declined or refused (payment.failed): the order is
	// payable again until its original deadline (Order.FailPayment).
	FailPayment
	// TicketChanged: the tickets service refused to reserve the ticket for the order
	// (ticket.refused), because its seller edited it after this service's replica saw it:
	// the order's price and title are not the ticket's. The order is cancelled, also a paid
	// one (payments refunds it): the edit applied to a ticket that was free.
	TicketChanged
)

// Events lists every event.
var Events = []Event{CancelByUser, Expire, Pay, StartPayment, FailPayment, TicketChanged}

func (e Event) String() string {
	switch e {
	case CancelByUser:
		return "cancel"
	case Expire:
		return "expire"
	case Pay:
		return "pay"
	case StartPayment:
		return "start-payment"
	case FailPayment:
		return "fail-payment"
	case TicketChanged:
		return "ticket-changed"
	}
	return fmt.Sprintf("Event(%d)", int(e))
}

// Cause says why an order changed, in its history.
type Cause string

// The causes of the history.
const (
	CauseCreated         Cause = "created"
	CausePaymentStarted  Cause = "payment-started"
	CausePaymentFailed   Cause = "payment-failed"
	CauseExpired         Cause = "expired"
	CauseCancelledByUser Cause = "cancelled-by-user"
	CausePaid            Cause = "paid"
	CauseRefunded        Cause = "refunded"
	CauseTicketChanged   Cause = "ticket-changed"
)

// cause is the history cause of event e.
func (e Event) cause() Cause {
	switch e {
	case CancelByUser:
		return CauseCancelledByUser
	case Expire:
		return CauseExpired
	case Pay:
		return CausePaid
	case StartPayment:
		return CausePaymentStarted
	case FailPayment:
		return CausePaymentFailed
	case TicketChanged:
		return CauseTicketChanged
	}
	return Cause(e.String())
}

// Change is one step of an order's history: the status it entered, when, and why.
type Change struct {
	Status events.OrderStatus
	At     time.Time
	Cause  Cause
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
	// ErrAttemptNotStarted: a payment attempt failed whose start the order has not seen yet
	// (events of different subjects may be reordered); it applies once the start has.
	ErrAttemptNotStarted = errors.New("the payment attempt has not started here yet")
)

// Next is the status an order in status s moves to on event e. When the returned status is s
// itself the event changes nothing (it was already applied, or it is moot: an expiry of a
// paid order). The errors say why an event cannot apply:
//
//	            cancel         expire      pay            start-payment   fail-payment   ticket-changed
//	created     cancelled      cancelled   complete       awaiting        created        cancelled
//	awaiting    cancelled      cancelled   complete       awaiting        created (*)    cancelled
//	cancelled   cancelled      cancelled   ErrCancelled   cancelled       cancelled      cancelled
//	complete    ErrComplete    complete    complete       complete        complete       cancelled (**)
//
// (*) or cancelled when the order's original deadline has passed (Order.FailPayment): the
// order expires. A start while awaiting is a redelivery or a concurrent attempt (moot); a
// failure while created is one already applied.
// (**) the one way a paid order is cancelled: it was paid before this service learnt that
// the tickets service never reserved its ticket (the seller's edit came first); payments
// refunds it.
func Next(s events.OrderStatus, e Event) (events.OrderStatus, error) {
	switch s {
	case events.OrderStatusCreated, events.OrderStatusAwaitingPayment:
		switch e {
		case CancelByUser, Expire:
			return events.OrderStatusCancelled, nil
		case Pay:
			return events.OrderStatusComplete, nil
		case StartPayment:
			return events.OrderStatusAwaitingPayment, nil
		case FailPayment:
			return events.OrderStatusCreated, nil
		case TicketChanged:
			return events.OrderStatusCancelled, nil
		}
	case events.OrderStatusCancelled:
		switch e {
		case CancelByUser, Expire, StartPayment, FailPayment, TicketChanged:
			return events.OrderStatusCancelled, nil
		case Pay:
			return events.OrderStatusCancelled, ErrCancelled
		}
	case events.OrderStatusComplete:
		switch e {
		case CancelByUser:
			return events.OrderStatusComplete, ErrComplete
		case Expire, Pay, StartPayment, FailPayment:
			return events.OrderStatusComplete, nil
		case TicketChanged:
			return events.OrderStatusCancelled, nil
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
	EventID    string // the event the ticket belongs to, "" for none
}

// Order is a user's reservation of one ticket.
type Order struct {
	ID     string
	UserID string
	Status events.OrderStatus
	// ExpiresAt is the order's deadline: ReservedUntil, or PaymentUntil while a payment is
	// in flight.
	ExpiresAt time.Time
	// ReservedUntil is the end of the reservation window, the deadline the order returns to
	// when a payment fails.
	ReservedUntil time.Time
	// PaymentUntil is the deadline of a payment in flight, set once, when the first payment
	// starts: max(ReservedUntil, start + grace). Zero until then.
	PaymentUntil time.Time
	// PaymentAttempt is the last payment attempt whose start the order saw (0: none).
	PaymentAttempt int
	Version        int64
	Ticket         Ticket
	// Slot is the place in the event's limit of live orders per buyer that the order holds
	// (Sale.Slots); "" for a ticket of no event.
	Slot    string
	History []Change
}

// New is a fresh order of userID for ticket, placed at now, expiring after window.
func New(id, userID string, ticket Ticket, now time.Time, window time.Duration) Order {
	until := now.Add(window).UTC()
	return Order{
		ID:            id,
		UserID:        userID,
		Status:        events.OrderStatusCreated,
		ExpiresAt:     until,
		ReservedUntil: until,
		Version:       0,
		Ticket:        ticket,
		History:       []Change{{Status: events.OrderStatusCreated, At: now.UTC(), Cause: CauseCreated}},
	}
}

// Deadline is the order's reservation window's end: ReservedUntil, or ExpiresAt for an
// order stored before the two were kept apart.
func (o Order) Deadline() time.Time {
	if o.ReservedUntil.IsZero() {
		return o.ExpiresAt
	}
	return o.ReservedUntil
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

// Apply is o after event e at time at (see Next): in its next status at the next version,
// with the change in its history, or unchanged when e changes nothing. The error says why e
// cannot apply. StartPayment and FailPayment go through Order.StartPayment and
// Order.FailPayment, which also move the deadline.
func (o Order) Apply(e Event, at time.Time) (Order, error) {
	next, err := Next(o.Status, e)
	if err != nil || next == o.Status {
		return o, err
	}
	return o.moved(next, at, e.cause()), nil
}

// moved is o in status next at the next version, with the change at at in its history.
func (o Order) moved(next events.OrderStatus, at time.Time, cause Cause) Order {
	o.Status = next
	o.Version++
	o.History = append(slices.Clip(o.History), Change{Status: next, At: at.UTC(), Cause: cause})
	return o
}

// StartPayment is o after payment attempt n started at now: awaiting:payment, its deadline
// PaymentUntil, which the first start sets to max(ExpiresAt, now + grace) and later starts
// keep (the hold is extended once). A start of an attempt already seen, or of a settled
// order, changes nothing.
func (o Order) StartPayment(n int, now time.Time, grace time.Duration) (Order, error) {
	next, err := Next(o.Status, StartPayment)
	if err != nil || next == o.Status || n <= o.PaymentAttempt {
		return o, err
	}
	if o.PaymentUntil.IsZero() {
		o.PaymentUntil = maxTime(o.ExpiresAt, now.Add(grace)).UTC()
	}
	o.ReservedUntil = o.Deadline()
	o.ExpiresAt = maxTime(o.ExpiresAt, o.PaymentUntil)
	o.PaymentAttempt = n
	return o.moved(next, now, CausePaymentStarted), nil
}

// FailPayment is o after payment attempt n failed at now: created again with its original
// deadline, or cancelled (expired) when that has passed. A failure of an attempt that is not
// the one in flight changes nothing; one whose start o has not seen is ErrAttemptNotStarted.
func (o Order) FailPayment(n int, now time.Time) (Order, error) {
	next, err := Next(o.Status, FailPayment)
	switch {
	case err != nil:
		return o, err
	case o.Status.Live() && n > o.PaymentAttempt:
		return o, ErrAttemptNotStarted
	case next == o.Status || n < o.PaymentAttempt:
		return o, nil
	}
	if !now.Before(o.Deadline()) {
		return o.moved(events.OrderStatusCancelled, now, CauseExpired), nil
	}
	o.ExpiresAt = o.Deadline()
	return o.moved(next, now, CausePaymentFailed), nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Cause is the cause of o's last change.
func (o Order) Cause() Cause {
	if len(o.History) == 0 {
		return CauseCreated
	}
	return o.History[len(o.History)-1].Cause
}

// Event is the event that announces o in its status: order.created, order.updated (a live
// order after its creation), order.cancelled or order.completed, at o's version.
func (o Order) Event() events.Event {
	ref := events.TicketRef{ID: o.Ticket.ID, EventID: o.Ticket.EventID}
	switch o.Status {
	case events.OrderStatusCancelled:
		return events.OrderCancelled{ID: o.ID, Version: o.Version, Ticket: ref}
	case events.OrderStatusComplete:
		return events.OrderCompleted{ID: o.ID, Version: o.Version, Ticket: ref}
	}
	if o.Version > 0 {
		return events.OrderUpdated{ID: o.ID, Version: o.Version, Status: o.Status, ExpiresAt: o.ExpiresAt,
			Cause: string(o.Cause()), Ticket: ref}
	}
	ref.PriceCents = o.Ticket.PriceCents
	seen := o.Ticket.Version
	ref.Version = &seen
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

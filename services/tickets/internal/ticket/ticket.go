// Package ticket holds the rules of a ticket for sale: what a valid title and price are, who
// may edit it, how orders reserve, release and buy it, and the events that announce each
// version. It knows no database, bus or HTTP: every transition is a pure function from one
// state to the next, which the caller stores with a single conditional write on the version
// it read. Its errors are plain sentinels; the API words them for clients.
//
// The transitions, for the order o that an event names:
//
//	                       Reserve(o)        Release(o)             Sell(o)
//	free                   held by o (*)     records o released     ErrNotYet
//	held by o              unchanged         free, o released       sold to o
//	held by another        ErrNotYet         records o released     ErrNotYet
//	sold to o              unchanged         records o released     unchanged
//	sold to another        ErrNotYet         records o released     ErrImpossible
//	o refused before       unchanged         unchanged              unchanged
//	o released before      unchanged         unchanged              ErrImpossible
//
// (*) unless the ticket was edited after the version the order saw: then o is refused
// (recorded as refused and released, announced with ticket.refused, and the orders service
// cancels o). An order refused is never reserved; its completion, if the orders service had
// completed it before it learnt of the refusal, is moot (it cancels the order and payments
// refunds it).
//
// Edit by the owner applies only to a free ticket (ErrReserved otherwise); by anyone else it
// is ErrNotOwner.
package ticket

import (
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"ticketing/common/events"
)

// MaxTitleRunes is the longest title, in characters, after trimming.
const MaxTitleRunes = 200

// Ticket is a ticket listed for sale.
//
// OrderID is the order that holds it ("" when free); Sold says that order paid. An order is
// recorded in ReleasedOrders once it is cancelled, so that its order.created event, arriving
// late or again, never reserves the ticket; only the last KeepReleased are kept (a late
// order.created is behind its own order.cancelled by far fewer orders of the same ticket:
// each of them needed the ticket free in the orders service, after the release before). Version counts the changes: it goes up by one
// with every edit, reservation, release and sale; only edits are announced (Announced).
// EditedVersion is the version of the last edit (0 until the first): the version of the
// title and price, which the orders service's replica holds and names in order.created.
// RefusedOrders are the orders refused because they saw an older EditedVersion (the last
// KeepReleased; each is also in ReleasedOrders).
type Ticket struct {
	ID             string
	Title          string
	PriceCents     int64
	UserID         string
	Version        int64
	EditedVersion  int64
	OrderID        string
	Sold           bool
	ReleasedOrders []string
	RefusedOrders  []string
	CreatedAt      time.Time
	EventID        string // the event the ticket was listed for, "" for none
}

// Errors of the rules.
var (
	// ErrNotFound: no such ticket (a malformed id included).
	ErrNotFound = errors.New("ticket not found")
	// ErrNotOwner: only the seller may edit a ticket.
	ErrNotOwner = errors.New("ticket belongs to another user")
	// ErrReserved: a ticket that an order holds or bought cannot be edited.
	ErrReserved = errors.New("ticket is reserved")

	// ErrNotYet says an order event arrived before the one it follows (for instance
	// order.created for a new order while the previous holder's order.cancelled is still on
	// its way): it must be offered again later.
	ErrNotYet = errors.New("ticket: the event that precedes this one has not been applied yet")

	// ErrImpossible says an order event contradicts the ticket for good (an order completed
	// after it was cancelled, or a ticket sold to two orders). No retry can apply it.
	ErrImpossible = errors.New("ticket: the event contradicts the ticket's history")
)

// Details are what a seller chooses: a title and a price in cents, both valid.
type Details struct {
	Title      string
	PriceCents int64
}

// Errors of a title.
var (
	ErrTitleRequired = errors.New("title is required")
	ErrTitleTooLong  = errors.New("title must be at most 200 characters")
	ErrTitleNotUTF8  = errors.New("title must be valid UTF-8")
	ErrTitleControl  = errors.New("title must not contain control characters")
)

// NewTitle checks a title: trimmed, it must hold 1 to MaxTitleRunes characters, none of them
// control characters.
func NewTitle(s string) (string, error) {
	title := strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(title); {
	case n == 0:
		return "", ErrTitleRequired
	case n > MaxTitleRunes:
		return "", ErrTitleTooLong
	case !utf8.ValidString(title):
		return "", ErrTitleNotUTF8
	case strings.ContainsFunc(title, unicode.IsControl):
		return "", ErrTitleControl
	}
	return title, nil
}

// NewDetails checks a title and a price as a seller sent them (see NewTitle, and ParsePrice
// for the price, the text of a JSON number). A nil pointer is a missing value. The error
// joins the rule the title breaks (an ErrTitle... error) and the one the price breaks (an
// ErrPrice... error).
func NewDetails(title, price *string) (Details, error) {
	var d Details
	titleErr, priceErr := ErrTitleRequired, ErrPriceRequired
	if title != nil {
		d.Title, titleErr = NewTitle(*title)
	}
	if price != nil {
		d.PriceCents, priceErr = ParsePrice(*price)
	}
	if err := errors.Join(titleErr, priceErr); err != nil {
		return Details{}, err
	}
	return d, nil
}

// New is a ticket listed by userID, at version 0.
func New(id, userID string, d Details, now time.Time) Ticket {
	return Ticket{
		ID:         id,
		Title:      d.Title,
		PriceCents: d.PriceCents,
		UserID:     userID,
		CreatedAt:  now.UTC(),
	}
}

// Reserved says an order holds the ticket or bought it: it is not for sale and cannot be edited.
func (t Ticket) Reserved() bool { return t.OrderID != "" || t.Sold }

// KeepReleased is how many released orders a ticket remembers, the latest.
const KeepReleased = 100

// Released says order was cancelled (or refused).
func (t Ticket) Released(order string) bool { return slices.Contains(t.ReleasedOrders, order) }

// Refused says order's reservation was refused: it saw details the ticket no longer had.
func (t Ticket) Refused(order string) bool { return slices.Contains(t.RefusedOrders, order) }

// remember is list with id appended, keeping the last KeepReleased.
func remember(list []string, id string) []string {
	list = append(slices.Clip(list), id)
	if n := len(list); n > KeepReleased {
		list = slices.Clone(list[n-KeepReleased:])
	}
	return list
}

// Edit is the ticket with new details, as userID asks: only the owner may edit, and only a
// ticket that no order holds.
func (t Ticket) Edit(userID string, d Details) (Ticket, error) {
	if t.UserID != userID {
		return t, ErrNotOwner
	}
	if t.Reserved() {
		return t, ErrReserved
	}
	t.Title, t.PriceCents = d.Title, d.PriceCents
	t.Version++
	t.EditedVersion = t.Version
	return t, nil
}

// Reserve applies order.created for order, which saw the ticket at version seen (its last
// edit; nil when the event does not say). The ticket comes back unchanged when the order
// already holds it or was already cancelled or refused; ErrNotYet when another order holds
// it (that order's cancellation has not arrived yet). A free ticket edited after seen is not
// reserved: order is recorded as refused (Refusals announces it), at the same version.
func (t Ticket) Reserve(order string, seen *int64) (Ticket, error) {
	switch {
	case t.OrderID == order, t.Released(order):
		return t, nil
	case t.Reserved():
		return t, ErrNotYet
	case seen != nil && *seen < t.EditedVersion:
		t.RefusedOrders = remember(t.RefusedOrders, order)
		t.ReleasedOrders = remember(t.ReleasedOrders, order)
		return t, nil
	}
	t.OrderID = order
	t.Version++
	return t, nil
}

// Release applies order.cancelled for order. The order is always recorded as released, so
// that a late order.created cannot reserve; the ticket becomes free (a new version) only when
// that order holds it and has not bought it.
func (t Ticket) Release(order string) Ticket {
	if !t.Released(order) {
		t.ReleasedOrders = remember(t.ReleasedOrders, order)
	}
	if t.OrderID == order && !t.Sold {
		t.OrderID = ""
		t.Version++
	}
	return t
}

// Sell applies order.completed for order: the order that holds the ticket bought it. The
// ticket comes back unchanged when it is already sold to that order, or when the order was
// refused (the orders service completed it before it learnt of the refusal: it cancels the
// order, and payments refunds it); ErrNotYet when the order's order.created has not been
// applied yet; ErrImpossible when the order was cancelled or the ticket was sold to another
// order.
func (t Ticket) Sell(order string) (Ticket, error) {
	switch {
	case t.Sold && t.OrderID == order, t.Refused(order):
		return t, nil
	case t.Sold, t.Released(order):
		return t, ErrImpossible
	case t.OrderID != order:
		return t, ErrNotYet // free, or held by an order whose cancellation is on its way
	}
	t.Sold = true
	t.Version++
	return t, nil
}

// Created is the ticket.created event of a ticket just listed.
func (t Ticket) Created() events.TicketCreated {
	return events.TicketCreated{ID: t.ID, Version: t.Version, Title: t.Title, PriceCents: t.PriceCents, UserID: t.UserID, EventID: t.EventID}
}

// Announced says whether next, computed from prev, is announced with a ticket.updated event:
// an edit is. A reservation, release or sale makes a new version too, but no other service
// keeps what it changes (the orders service holds tickets itself), so it publishes nothing.
func Announced(prev, next Ticket) bool {
	return next.Version > prev.Version && next.OrderID == prev.OrderID && next.Sold == prev.Sold
}

// Refusals are the ticket.refused events of the orders that next, computed from prev,
// refused.
func Refusals(prev, next Ticket) []events.Event {
	var out []events.Event
	for _, o := range next.RefusedOrders {
		if !prev.Refused(o) {
			out = append(out, events.TicketRefused{ID: next.ID, Version: next.EditedVersion, OrderID: o, Reason: events.RefusedTicketChanged})
		}
	}
	return out
}

// Updated is the ticket.updated event of t's version; OrderID is null when the ticket is free.
func (t Ticket) Updated() events.TicketUpdated {
	e := events.TicketUpdated{ID: t.ID, Version: t.Version, Title: t.Title, PriceCents: t.PriceCents, UserID: t.UserID}
	if t.OrderID != "" {
		order := t.OrderID
		e.OrderID = &order
	}
	return e
}

// Package ticket holds the rules of a ticket for sale: what a valid title and price are, who
// may edit it, and how orders reserve, release and buy it. It knows no database, bus or HTTP:
// every transition is a pure function from one state to the next, which the caller stores
// with a single conditional write on the version it read.
package ticket

import (
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"ticketing/common/errs"
)

// MaxTitleRunes is the longest title, in characters, after trimming.
const MaxTitleRunes = 200

// Ticket is a ticket listed for sale.
//
// OrderID is the order that holds it ("" when free); Sold says that order paid. An order is
// recorded in ReleasedOrders once it is cancelled, so that its order.created event, arriving
// late or again, never reserves the ticket. Version counts the changes other services see:
// it goes up by one with every ticket.updated event and only then.
type Ticket struct {
	ID             string
	Title          string
	PriceCents     int64
	UserID         string
	Version        int64
	OrderID        string
	Sold           bool
	ReleasedOrders []string
	CreatedAt      time.Time
}

// Errors of the transitions. ErrNotOwner and ErrReserved carry their client message and kind.
var (
	ErrNotOwner = errs.New(errs.Forbidden, "You do not own this ticket")
	ErrReserved = errs.New(errs.Conflict, "Cannot edit a reserved ticket")

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

// NewDetails checks a title and a price as a seller sent them: title is trimmed and must
// hold 1 to MaxTitleRunes characters, none of them control characters; price is the text of
// a JSON number (see ParsePrice). A nil pointer is a missing value. The error is an
// errs.Invalid naming each field at fault.
func NewDetails(title, price *string) (Details, error) {
	var v errs.Validation
	var d Details
	if title == nil {
		v.Add("title", "Title is required")
	} else {
		d.Title = strings.TrimSpace(*title)
		switch n := utf8.RuneCountInString(d.Title); {
		case n == 0:
			v.Add("title", "Title is required")
		case n > MaxTitleRunes:
			v.Add("title", "Title must be at most 200 characters")
		case !utf8.ValidString(d.Title):
			v.Add("title", "Title must be valid UTF-8")
		case strings.ContainsFunc(d.Title, unicode.IsControl):
			v.Add("title", "Title must not contain control characters")
		}
	}
	if price == nil {
		v.Add("price", "Price is required")
	} else if cents, err := ParsePrice(*price); err != nil {
		v.Add("price", err.Error())
	} else {
		d.PriceCents = cents
	}
	if err := v.Err(); err != nil {
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

// Released says order was cancelled.
func (t Ticket) Released(order string) bool { return slices.Contains(t.ReleasedOrders, order) }

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
	return t, nil
}

// Reserve applies order.created for order. The ticket comes back unchanged when the order
// already holds it or was already cancelled; ErrNotYet when another order holds it (that
// order's cancellation has not arrived yet).
func (t Ticket) Reserve(order string) (Ticket, error) {
	switch {
	case t.OrderID == order, t.Released(order):
		return t, nil
	case t.Reserved():
		return t, ErrNotYet
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
		t.ReleasedOrders = append(slices.Clip(t.ReleasedOrders), order)
	}
	if t.OrderID == order && !t.Sold {
		t.OrderID = ""
		t.Version++
	}
	return t
}

// Sell applies order.completed for order: the order that holds the ticket bought it. The
// ticket comes back unchanged when it is already sold to that order; ErrNotYet when the
// order's order.created has not been applied yet; ErrImpossible when the order was cancelled
// or the ticket was sold to another order.
func (t Ticket) Sell(order string) (Ticket, error) {
	switch {
	case t.Sold && t.OrderID == order:
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

package order

import (
	"errors"
	"strconv"
	"time"
)

// Errors of an on-sale's rules, checked in this order when an order is placed for a ticket of
// an event.
var (
	// ErrNotOnSale: the event's sale has not opened (or the event is not known here yet).
	ErrNotOnSale = errors.New("the event is not on sale yet")
	// ErrPassRequired: no valid queue pass of the user for the event.
	ErrPassRequired = errors.New("a queue pass for the event is required")
	// ErrLimitReached: the user already holds the event's limit of live orders.
	ErrLimitReached = errors.New("the user holds the event's limit of live orders")
)

// Sale is what the orders service knows of an event (event.created): when its tickets can be
// ordered, and how many live orders one user may hold for it.
type Sale struct {
	EventID    string
	OnSaleAt   time.Time
	MaxPerUser int
}

// Open returns ErrNotOnSale before the sale opens at OnSaleAt, nil from then on.
func (s Sale) Open(now time.Time) error {
	if now.Before(s.OnSaleAt) {
		return ErrNotOnSale
	}
	return nil
}

// Slots are the names of the places a user has in the sale's limit: MaxPerUser of them, each
// held by at most one live order (by a hold that lapses with the order's own).
func (s Sale) Slots(userID string) []string {
	out := make([]string, max(s.MaxPerUser, 0))
	for i := range out {
		out[i] = s.EventID + "/" + userID + "/" + strconv.Itoa(i)
	}
	return out
}

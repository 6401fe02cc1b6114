// Package app runs the tickets workflows: list, show and edit tickets for their sellers, and
// reserve, release and sell them as the orders service's events say. Each change is a pure
// transition of the ticket domain, stored by the store in one conditional write with its
// event; a write that loses a race to another is decided again from a fresh read.
//
// The listing (ListFree) and a ticket's page (Get) answer from an in-process cache
// (common/cache): an entry lives at most the listing TTL, so a change made through another
// replica shows within it; one store query per page or ticket runs at a time however many
// readers ask; this replica's own writes, its sellers' and the order events it consumes, put
// the ticket they stored (an older version never replaces a newer one), and a seller's
// create or edit also drops the cached pages, so that the seller sees it listed at once. A
// reservation, release or sale leaves the pages to their TTL: under an on-sale rush every
// order is such a write, and dropping the pages for each would turn every order into a
// listing query. The changes decide from the store's primary, never from the cache.
package app

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/cache"

	"ticketing/services/tickets/internal/store"
	"ticketing/services/tickets/internal/ticket"
)

// Attempts bound the read-decide-write rounds of one change when concurrent writes win the
// race (each round is one read and one conditional write).
const (
	editAttempts  = 50 // a seller's PUT: then 409, try again
	eventAttempts = 5  // an order event: then the bus offers it again with backoff
)

// ErrContended says the ticket kept changing while an edit was being saved.
var ErrContended = errors.New("the ticket kept changing while it was being saved")

// Service runs the workflows over the store.
type Service struct {
	store   *store.Store
	log     *slog.Logger
	now     func() time.Time
	tickets *cache.Cache[string, ticket.Ticket]
	pages   *cache.Cache[pageKey, Page]
}

// pageKey names a page of the listing.
type pageKey struct {
	after string
	limit int
}

// Page is a page of the listing, with the digest of what it shows: the same tickets at the
// same versions give the same digest (the API's ETag).
type Page struct {
	Tickets []ticket.Ticket
	Digest  string
}

// New is the Service over st, whose listing answers are at most listingTTL old.
func New(st *store.Store, log *slog.Logger, listingTTL time.Duration) *Service {
	return &Service{
		store: st, log: log, now: time.Now,
		tickets: cache.New[string]("tickets", cache.Options[ticket.Ticket]{TTL: listingTTL, Max: 100_000,
			Version: func(t ticket.Ticket) int64 { return t.Version }}),
		pages: cache.New[pageKey]("ticket_pages", cache.Options[Page]{TTL: listingTTL, Max: 1_000}),
	}
}

// stored records t, which a write of this replica that began at began stored (or a read for
// a change found), in the cache; listed says it was a seller's write, which the listing
// shows at once.
func (s *Service) stored(t ticket.Ticket, began time.Time, listed bool) {
	s.tickets.Put(t.ID, t, began)
	if listed {
		s.pages.Clear()
	}
}

// NewID is a fresh ticket id: a time-ordered ObjectID in hex.
func NewID() string { return bson.NewObjectID().Hex() }

// ValidID reports whether id can name a ticket: the hex form of an ObjectID, as the service
// makes them.
func ValidID(id string) bool {
	oid, err := bson.ObjectIDFromHex(id)
	return err == nil && oid.Hex() == id
}

// Create lists a ticket of userID with the details d, at version 0, and announces it.
func (s *Service) Create(ctx context.Context, userID string, d ticket.Details) (ticket.Ticket, error) {
	began := time.Now()
	t := ticket.New(NewID(), userID, d, s.now())
	if err := s.store.Create(ctx, t); err != nil {
		return ticket.Ticket{}, err
	}
	s.stored(t, began, true)
	return t, nil
}

// Get is ticket id, to show it (from the cache; see the package doc); ticket.ErrNotFound
// when there is none (also for a malformed id).
func (s *Service) Get(ctx context.Context, id string) (ticket.Ticket, error) {
	if !ValidID(id) {
		return ticket.Ticket{}, ticket.ErrNotFound
	}
	return s.tickets.Get(ctx, id, func(ctx context.Context) (ticket.Ticket, error) {
		return s.store.Show(ctx, id)
	})
}

// ListFree is at most limit tickets that no order holds, newest first, older than the ticket
// after when it is not "" (from the cache; see the package doc).
func (s *Service) ListFree(ctx context.Context, after string, limit int) (Page, error) {
	return s.pages.Get(ctx, pageKey{after, limit}, func(ctx context.Context) (Page, error) {
		ts, err := s.store.ListFree(ctx, after, limit)
		if err != nil {
			return Page{}, err
		}
		return Page{Tickets: ts, Digest: digest(ts)}, nil
	})
}

// digest is a hash of the ids and versions of ts, and of the form the API shows them in
// (bump the "v1" when it changes).
func digest(ts []ticket.Ticket) string {
	h := fnv.New64a()
	h.Write([]byte("v1"))
	var buf []byte
	for _, t := range ts {
		buf = strconv.AppendInt(append(append(buf[:0], t.ID...), ':'), t.Version, 10)
		h.Write(append(buf, ';'))
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

// Edit gives ticket id the details d, as its seller userID asks. Errors: ticket.ErrNotFound,
// ticket.ErrNotOwner, ticket.ErrReserved, ErrContended.
func (s *Service) Edit(ctx context.Context, userID, id string, d ticket.Details) (ticket.Ticket, error) {
	if !ValidID(id) {
		return ticket.Ticket{}, ticket.ErrNotFound
	}
	began := time.Now()
	t, _, err := s.store.Update(ctx, id, editAttempts, func(t ticket.Ticket) (ticket.Ticket, error) {
		return t.Edit(userID, d)
	})
	if errors.Is(err, store.ErrLostRace) {
		return ticket.Ticket{}, fmt.Errorf("%w: %w", ErrContended, err)
	}
	if err == nil {
		s.stored(t, began, true)
	}
	return t, err
}

// Reserve applies order.created: orderID holds the ticket. Errors: ticket.ErrNotFound,
// ticket.ErrNotYet (another order holds it).
func (s *Service) Reserve(ctx context.Context, ticketID, orderID string) error {
	began := time.Now()
	t, reserved, err := s.store.ReserveFree(ctx, ticketID, orderID)
	if err != nil {
		return err
	}
	if reserved {
		s.stored(t, began, false)
		s.log.InfoContext(ctx, "ticket reserved", "ticket_id", ticketID, "order_id", orderID)
		return nil
	}
	return s.apply(ctx, ticketID, orderID, "reserved", func(t ticket.Ticket) (ticket.Ticket, error) {
		return t.Reserve(orderID)
	})
}

// Release applies order.cancelled: the order is recorded as released, and the ticket freed
// if that order holds it. Errors: ticket.ErrNotFound.
func (s *Service) Release(ctx context.Context, ticketID, orderID string) error {
	return s.apply(ctx, ticketID, orderID, "released", func(t ticket.Ticket) (ticket.Ticket, error) {
		return t.Release(orderID), nil
	})
}

// Sell applies order.completed: the order that holds the ticket bought it. Errors:
// ticket.ErrNotFound, ticket.ErrNotYet (not reserved by the order yet), ticket.ErrImpossible
// (the order was cancelled, or the ticket sold to another).
func (s *Service) Sell(ctx context.Context, ticketID, orderID string) error {
	return s.apply(ctx, ticketID, orderID, "sold", func(t ticket.Ticket) (ticket.Ticket, error) {
		return t.Sell(orderID)
	})
}

// apply runs change, the effect of an order event, on the ticket; a redelivered event finds
// its effect stored and writes nothing.
func (s *Service) apply(ctx context.Context, ticketID, orderID, what string, change func(ticket.Ticket) (ticket.Ticket, error)) error {
	began := time.Now()
	t, stored, err := s.store.Update(ctx, ticketID, eventAttempts, change)
	switch {
	case errors.Is(err, ticket.ErrNotYet):
		return fmt.Errorf("ticket %s, order %s (held by %q): %w", ticketID, orderID, t.OrderID, err)
	case errors.Is(err, ticket.ErrImpossible):
		return fmt.Errorf("ticket %s (order %q, sold %t), order %s: %w", ticketID, t.OrderID, t.Sold, orderID, err)
	case err != nil:
		return err
	}
	// t was read from the primary, or written: the newest version since began.
	s.stored(t, began, false)
	if stored {
		s.log.InfoContext(ctx, "ticket "+what, "ticket_id", ticketID, "order_id", orderID,
			"version", t.Version, "held_by", t.OrderID, "sold", t.Sold)
	}
	return nil
}

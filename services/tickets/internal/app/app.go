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

	"ticketing/services/tickets/internal/event"
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

// pageKey names a page of the listing: of one event, or of every ticket when eventID is "".
type pageKey struct {
	eventID string
	after   string
	limit   int
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

// written records t, which an order event's usual case stored in one conditional write
// that began at began, in the cache, and logs it.
func (s *Service) written(ctx context.Context, t ticket.Ticket, began time.Time, what, orderID string) {
	s.stored(t, began, false)
	s.log.InfoContext(ctx, "ticket "+what, "ticket_id", t.ID, "order_id", orderID, "version", t.Version)
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
// after when it is not "", of event eventID when it is not "" (from the cache; see the package
// doc).
func (s *Service) ListFree(ctx context.Context, eventID, after string, limit int) (Page, error) {
	return s.pages.Get(ctx, pageKey{eventID, after, limit}, func(ctx context.Context) (Page, error) {
		ts, err := s.store.ListFree(ctx, eventID, after, limit)
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

// Reserve applies order.created: orderID, which saw the ticket at version seen (its last
// edit; nil when the event does not say), holds the ticket; or, when the ticket was edited
// after seen, the order is refused and ticket.refused published (the orders service cancels
// it). Errors: ticket.ErrNotFound, ticket.ErrNotYet (another order holds it).
func (s *Service) Reserve(ctx context.Context, ticketID, orderID string, seen *int64) error {
	began := time.Now()
	t, reserved, err := s.store.ReserveFree(ctx, ticketID, orderID, seen)
	if err != nil {
		return err
	}
	if reserved {
		s.written(ctx, t, began, "reserved", orderID)
		return nil
	}
	return s.apply(ctx, ticketID, orderID, "reserved", func(t ticket.Ticket) (ticket.Ticket, error) {
		next, err := t.Reserve(orderID, seen)
		if err == nil && next.Refused(orderID) && !t.Refused(orderID) {
			s.log.InfoContext(ctx, "reservation refused: the ticket was edited after the order saw it",
				"ticket_id", ticketID, "order_id", orderID, "seen", *seen, "edited", t.EditedVersion)
		}
		return next, err
	})
}

// Release applies order.cancelled: the order is recorded as released, and the ticket freed
// if that order holds it. Errors: ticket.ErrNotFound.
func (s *Service) Release(ctx context.Context, ticketID, orderID string) error {
	began := time.Now()
	t, released, err := s.store.ReleaseHeld(ctx, ticketID, orderID)
	if err != nil {
		return err
	}
	if released {
		s.written(ctx, t, began, "released", orderID)
		return nil
	}
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

// EventView is an event with how many of its tickets are free.
type EventView struct {
	event.Event
	Available int
}

// CreateEvent creates the event of spec for userID with its tickets, all free, and
// announces them (event.created, then one ticket.created per ticket).
func (s *Service) CreateEvent(ctx context.Context, userID string, spec event.Spec) (EventView, error) {
	now := s.now()
	e := event.New(NewID(), userID, spec, now)
	ids := make([]string, e.TicketCount)
	for i := range ids {
		ids[i] = NewID()
	}
	tickets, err := e.Tickets(ids, now)
	if err != nil {
		return EventView{}, err
	}
	// The tickets are written whatever the client does meanwhile: a half-listed event is
	// worse than a slow answer.
	if err := s.store.CreateEvent(context.WithoutCancel(ctx), e, tickets); err != nil {
		return EventView{}, err
	}
	s.log.InfoContext(ctx, "event created", "event_id", e.ID, "tickets", e.TicketCount, "on_sale_at", e.OnSaleAt)
	return EventView{Event: e, Available: e.TicketCount}, nil
}

// GetEvent is event id with its free tickets counted; event.ErrNotFound when there is none.
func (s *Service) GetEvent(ctx context.Context, id string) (EventView, error) {
	if !ValidID(id) {
		return EventView{}, event.ErrNotFound
	}
	e, err := s.store.Event(ctx, id)
	if err != nil {
		return EventView{}, err
	}
	n, err := s.store.CountFree(ctx, id)
	if err != nil {
		return EventView{}, err
	}
	return EventView{Event: e, Available: n}, nil
}

// ListEvents is at most limit events, soonest onSaleAt first, after event after when it is
// not "" (event.ErrNotFound when there is no such event).
func (s *Service) ListEvents(ctx context.Context, after string, limit int) ([]EventView, error) {
	var page *store.EventPage
	if after != "" {
		if !ValidID(after) {
			return nil, event.ErrNotFound
		}
		e, err := s.store.Event(ctx, after)
		if err != nil {
			return nil, err
		}
		page = &store.EventPage{At: e.OnSaleAt, ID: e.ID}
	}
	list, err := s.store.ListEvents(ctx, page, limit)
	if err != nil {
		return nil, err
	}
	out := make([]EventView, len(list))
	for i, e := range list {
		n, err := s.store.CountFree(ctx, e.ID)
		if err != nil {
			return nil, err
		}
		out[i] = EventView{Event: e, Available: n}
	}
	return out, nil
}

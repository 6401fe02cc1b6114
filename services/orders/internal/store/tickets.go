package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing/common/bus"
	"ticketing/common/mongodb"
	"ticketing/services/orders/internal/order"
)

// ticketDoc is the replica of a ticket. Title, price and version come from the tickets
// service's events; holder and holdUntil, the order.Hold on the ticket, belong to this
// service alone and no event touches them.
type ticketDoc struct {
	ID         string    `bson:"_id"`
	Title      string    `bson:"title"`
	PriceCents int64     `bson:"priceCents"`
	Version    int64     `bson:"version"`
	SellerID   string    `bson:"sellerId,omitempty"`
	Holder     string    `bson:"holder"`
	HoldUntil  time.Time `bson:"holdUntil"`
	EventID    string    `bson:"eventId,omitempty"`
}

func (d ticketDoc) ticket() order.Ticket {
	return order.Ticket{ID: d.ID, Title: d.Title, PriceCents: d.PriceCents, Version: d.Version, SellerID: d.SellerID, EventID: d.EventID}
}

// Replica is a stored ticket with its hold.
type Replica struct {
	Ticket order.Ticket
	Hold   order.Hold
}

// InsertTicket stores a ticket the replica has not seen, free. A ticket already stored (a
// redelivered ticket.created) is a Duplicate.
func (s *Store) InsertTicket(ctx context.Context, t order.Ticket) (bus.Outcome, error) {
	return bus.InsertReplica(ctx, s.tickets, ticketDoc{
		ID: t.ID, Title: t.Title, PriceCents: t.PriceCents, Version: t.Version, SellerID: t.SellerID,
		Holder: "", HoldUntil: time.Time{}, EventID: t.EventID,
	})
}

// ApplyTicketVersion stores t's title and price as version t.Version, if the replica holds
// an earlier version. The tickets service announces only the versions that change what this
// replica keeps (its edits; not its reservations, releases and sales), so versions may be
// skipped; a late one never rolls the replica back. The hold is left alone.
func (s *Store) ApplyTicketVersion(ctx context.Context, t order.Ticket) (bus.Outcome, error) {
	set := bson.M{"title": t.Title, "priceCents": t.PriceCents}
	if t.SellerID != "" {
		set["sellerId"] = t.SellerID
	}
	return bus.ApplyLatest(ctx, s.tickets, t.ID, t.Version, set)
}

// Replica reads a ticket and its hold; order.ErrTicketNotFound when it is not replicated.
func (s *Store) Replica(ctx context.Context, id string) (Replica, error) {
	return mongodb.FindOne(ctx, s.tickets, bson.M{"_id": id}, order.ErrTicketNotFound, "read ticket "+id, func(d ticketDoc) Replica {
		return Replica{Ticket: d.ticket(), Hold: order.Hold{OrderID: d.Holder, Until: d.HoldUntil.UTC()}}
	})
}

// free is order.Hold.Free as a filter: the tickets that another order may take at now.
func free(now time.Time) bson.A {
	return bson.A{
		bson.M{"holder": ""},
		bson.M{"holdUntil": bson.M{"$lt": now}},
	}
}

// ErrOfEvent says the ticket belongs to an event: it is held with HoldWithin, under the
// sale's rules, not with Hold.
var ErrOfEvent = errors.New("the ticket belongs to an event")

// Hold takes h, a new order's hold, on ticketID, a ticket of no event, in one conditional
// write that matches only another seller's ticket that is free at now (order.Hold.Free). It
// returns the ticket as replicated; order.ErrTicketReserved when another hold is live,
// order.ErrTicketNotFound when the ticket is not replicated, order.ErrOwnTicket when buyerID
// is its seller, ErrOfEvent (with the ticket) for a ticket of an event.
//
// The write decides. For a ticket this replica saw held recently, the replica is read
// first and a live hold is refused without the write: in an on-sale rush most requests are
// for tickets already taken, and reads, unlike writes, do not wait for each other. Other
// tickets are written first, and read only when the write misses, to choose the answer.
func (s *Store) Hold(ctx context.Context, ticketID, buyerID string, h order.Hold, now time.Time) (order.Ticket, error) {
	if event, ok := s.eventOf.Load(ticketID); ok {
		// A ticket's event never changes: no write is tried for a ticket known to have one.
		return order.Ticket{ID: ticketID, EventID: event.(string)}, ErrOfEvent
	}
	return s.hold(ctx, ticketID, buyerID, h, now, false)
}

// hold is Hold for a ticket of no event (ofEvent false) or of an event (true); the other kind
// is not written, and answers ErrOfEvent or order.ErrTicketNotFound.
func (s *Store) hold(ctx context.Context, ticketID, buyerID string, h order.Hold, now time.Time, ofEvent bool) (order.Ticket, error) {
	for range 3 {
		if s.held.seen(ticketID, now) {
			if t, held, err := s.liveHold(ctx, ticketID, buyerID, now, ofEvent); err != nil || held {
				return t, cmp.Or(err, order.ErrTicketReserved)
			}
		}
		var d ticketDoc
		err := s.tickets.FindOneAndUpdate(ctx,
			bson.M{"_id": ticketID, "sellerId": bson.M{"$ne": buyerID}, "$or": free(now), "eventId": bson.M{"$exists": ofEvent}},
			bson.M{"$set": bson.M{"holder": h.OrderID, "holdUntil": h.Until}},
			options.FindOneAndUpdate().SetReturnDocument(options.After),
		).Decode(&d)
		if err == nil {
			s.held.saw(ticketID, h.Until)
			return d.ticket(), nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return order.Ticket{}, fmt.Errorf("hold ticket %s: %w", ticketID, err)
		}
		// Only to choose the answer: the write above decided. A ticket found free was
		// replicated or released just after the write missed it: try again.
		if t, held, err := s.liveHold(ctx, ticketID, buyerID, now, ofEvent); err != nil || held {
			return t, cmp.Or(err, order.ErrTicketReserved)
		}
	}
	return order.Ticket{}, order.ErrTicketReserved
}

// liveHold reads ticketID's replica and reports whether a hold on it is live at now,
// remembering what it saw. A ticket of the other kind than ofEvent says is ErrOfEvent (with
// the ticket) or order.ErrTicketNotFound; order.ErrOwnTicket when buyerID sells it.
func (s *Store) liveHold(ctx context.Context, ticketID, buyerID string, now time.Time, ofEvent bool) (order.Ticket, bool, error) {
	r, err := s.Replica(ctx, ticketID)
	if err != nil {
		return order.Ticket{}, false, err
	}
	switch {
	case ofEvent && r.Ticket.EventID == "":
		return order.Ticket{}, false, order.ErrTicketNotFound
	case !ofEvent && r.Ticket.EventID != "":
		if s.eventCount.Add(1) > maxSeenHeld { // bounded: forget them all, they are read again
			s.eventOf.Clear()
			s.eventCount.Store(0)
		}
		s.eventOf.Store(ticketID, r.Ticket.EventID)
		return r.Ticket, false, ErrOfEvent
	}
	if buyerID != "" && r.Ticket.SellerID == buyerID {
		return order.Ticket{}, false, order.ErrOwnTicket
	}
	if !r.Hold.Free(now) {
		s.held.saw(ticketID, r.Hold.Until)
		return order.Ticket{}, true, nil
	}
	s.held.forget(ticketID)
	return order.Ticket{}, false, nil
}

// seenHeld remembers until when this replica last saw each ticket held, so that Hold can
// read before it writes. It only orders Hold's steps: a stale entry costs a read.
type seenHeld struct {
	mu    sync.Mutex
	until map[string]time.Time
}

// maxSeenHeld bounds the tickets remembered; past it, lapsed holds are dropped, and then
// everything.
const maxSeenHeld = 100_000

func (c *seenHeld) seen(id string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.until[id]
	return ok && !t.Before(now)
}

func (c *seenHeld) saw(id string, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.until == nil || len(c.until) >= maxSeenHeld {
		now := time.Now()
		maps.DeleteFunc(c.until, func(_ string, t time.Time) bool { return t.Before(now) })
		if c.until == nil || len(c.until) >= maxSeenHeld {
			c.until = map[string]time.Time{}
		}
	}
	c.until[id] = until
}

func (c *seenHeld) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.until, id)
}

// ExtendHold moves the end of h.OrderID's hold on ticketID to h.Until (order.Hold.Permanent
// for a paid order), if that order still holds the ticket; a hold that already lasts longer
// is kept (a paid order's permanent hold is never shortened). It reports whether the order
// holds the ticket.
func (s *Store) ExtendHold(ctx context.Context, ticketID string, h order.Hold) (bool, error) {
	res, err := s.tickets.UpdateOne(ctx,
		bson.M{"_id": ticketID, "holder": h.OrderID},
		bson.M{"$max": bson.M{"holdUntil": h.Until}})
	if err != nil {
		return false, fmt.Errorf("extend hold of %s on ticket %s: %w", h.OrderID, ticketID, err)
	}
	return res.MatchedCount == 1, nil
}

// ReleaseHold frees ticketID if orderID holds it. It reports whether it did; releasing a
// hold that is not there (released already, or taken by another order after it lapsed) is
// not an error.
func (s *Store) ReleaseHold(ctx context.Context, ticketID, orderID string) (bool, error) {
	s.held.forget(ticketID)
	res, err := s.tickets.UpdateOne(ctx,
		bson.M{"_id": ticketID, "holder": orderID},
		bson.M{"$set": bson.M{"holder": "", "holdUntil": time.Time{}}})
	if err != nil {
		return false, fmt.Errorf("release hold of %s on ticket %s: %w", orderID, ticketID, err)
	}
	return res.ModifiedCount == 1, nil
}

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

	"ticketing/common/mongodb"
	"ticketing/services/orders/internal/order"
)

// ticketDoc is the replica of a ticket. Title, price and version come from the tickets
// service's events; holder and holdUntil belong to this service alone and no event touches
// them. A ticket is free when holder is "" or holdUntil has passed.
type ticketDoc struct {
	ID         string    `bson:"_id"`
	Title      string    `bson:"title"`
	PriceCents int64     `bson:"priceCents"`
	Version    int64     `bson:"version"`
	Holder     string    `bson:"holder"`
	HoldUntil  time.Time `bson:"holdUntil"`
}

func (d ticketDoc) ticket() order.Ticket {
	return order.Ticket{ID: d.ID, Title: d.Title, PriceCents: d.PriceCents, Version: d.Version}
}

// Replica is a stored ticket with its hold.
type Replica struct {
	Ticket    order.Ticket
	Holder    string    // the holding order's id, "" when free
	HoldUntil time.Time // when the hold lapses by itself
}

// Outcome of applying a versioned ticket event to the replica.
type Outcome int

const (
	// Applied: the event was the next version and is stored.
	Applied Outcome = iota + 1
	// Duplicate: the replica already has this version or a later one.
	Duplicate
	// NotYet: the ticket or the version before the event's is missing.
	NotYet
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Duplicate:
		return "duplicate"
	case NotYet:
		return "not yet"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// InsertTicket stores a ticket the replica has not seen, free. A ticket already stored (a
// redelivered ticket.created) is a Duplicate.
func (s *Store) InsertTicket(ctx context.Context, t order.Ticket) (Outcome, error) {
	_, err := s.tickets.InsertOne(ctx, ticketDoc{
		ID: t.ID, Title: t.Title, PriceCents: t.PriceCents, Version: t.Version,
		Holder: "", HoldUntil: time.Time{},
	})
	switch {
	case err == nil:
		return Applied, nil
	case mongodb.IsDuplicate(err):
		return Duplicate, nil
	default:
		return 0, fmt.Errorf("insert ticket %s: %w", t.ID, err)
	}
}

// ApplyTicketVersion stores t's title and price as version t.Version, only if the replica
// holds version t.Version-1. The hold is left alone.
func (s *Store) ApplyTicketVersion(ctx context.Context, t order.Ticket) (Outcome, error) {
	res, err := s.tickets.UpdateOne(ctx,
		bson.M{"_id": t.ID, "version": t.Version - 1},
		bson.M{"$set": bson.M{"title": t.Title, "priceCents": t.PriceCents, "version": t.Version}})
	if err != nil {
		return 0, fmt.Errorf("update ticket %s to v%d: %w", t.ID, t.Version, err)
	}
	if res.MatchedCount == 1 {
		return Applied, nil
	}
	r, err := s.Replica(ctx, t.ID)
	switch {
	case errors.Is(err, order.ErrTicketNotFound):
		return NotYet, nil
	case err != nil:
		return 0, err
	case r.Ticket.Version >= t.Version:
		return Duplicate, nil
	default:
		return NotYet, nil
	}
}

// Replica reads a ticket and its hold; order.ErrTicketNotFound when it is not replicated.
func (s *Store) Replica(ctx context.Context, id string) (Replica, error) {
	var d ticketDoc
	err := s.tickets.FindOne(ctx, bson.M{"_id": id}).Decode(&d)
	if mongodb.IsNotFound(err) {
		return Replica{}, order.ErrTicketNotFound
	}
	if err != nil {
		return Replica{}, fmt.Errorf("read ticket %s: %w", id, err)
	}
	return Replica{Ticket: d.ticket(), Holder: d.Holder, HoldUntil: d.HoldUntil.UTC()}, nil
}

// Hold makes orderID the holder of ticketID until until, in one conditional write that
// matches only a free ticket (no holder, or a hold that lapsed before now). It returns the
// ticket as replicated; order.ErrTicketReserved when another hold is live,
// order.ErrTicketNotFound when the ticket is not replicated.
//
// The write decides. For a ticket this replica saw held recently, the replica is read
// first and a live hold is refused without the write: in an on-sale rush most requests are
// for tickets already taken, and reads, unlike writes, do not wait for each other. Other
// tickets are written first, and read only when the write misses, to choose the answer.
func (s *Store) Hold(ctx context.Context, ticketID, orderID string, now, until time.Time) (order.Ticket, error) {
	for range 3 {
		if s.held.seen(ticketID, now) {
			if held, err := s.liveHold(ctx, ticketID, now); err != nil || held {
				return order.Ticket{}, cmp.Or(err, order.ErrTicketReserved)
			}
		}
		var d ticketDoc
		err := s.tickets.FindOneAndUpdate(ctx,
			bson.M{"_id": ticketID, "$or": bson.A{
				bson.M{"holder": ""},
				bson.M{"holdUntil": bson.M{"$lt": now}},
			}},
			bson.M{"$set": bson.M{"holder": orderID, "holdUntil": until}},
			options.FindOneAndUpdate().SetReturnDocument(options.After),
		).Decode(&d)
		if err == nil {
			s.held.saw(ticketID, until)
			return d.ticket(), nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return order.Ticket{}, fmt.Errorf("hold ticket %s: %w", ticketID, err)
		}
		// Only to choose the answer: the write above decided. A ticket found free was
		// replicated or released just after the write missed it: try again.
		if held, err := s.liveHold(ctx, ticketID, now); err != nil || held {
			return order.Ticket{}, cmp.Or(err, order.ErrTicketReserved)
		}
	}
	return order.Ticket{}, order.ErrTicketReserved
}

// liveHold reads ticketID's replica and reports whether a hold on it is live at now,
// remembering what it saw.
func (s *Store) liveHold(ctx context.Context, ticketID string, now time.Time) (bool, error) {
	r, err := s.Replica(ctx, ticketID)
	if err != nil {
		return false, err
	}
	if r.Holder != "" && !r.HoldUntil.Before(now) {
		s.held.saw(ticketID, r.HoldUntil)
		return true, nil
	}
	s.held.forget(ticketID)
	return false, nil
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

// ExtendHold moves the end of orderID's hold on ticketID to until, if orderID still holds
// it. It reports whether it did.
func (s *Store) ExtendHold(ctx context.Context, ticketID, orderID string, until time.Time) (bool, error) {
	res, err := s.tickets.UpdateOne(ctx,
		bson.M{"_id": ticketID, "holder": orderID},
		bson.M{"$set": bson.M{"holdUntil": until}})
	if err != nil {
		return false, fmt.Errorf("extend hold of %s on ticket %s: %w", orderID, ticketID, err)
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

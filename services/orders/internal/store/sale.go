package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing/common/bus"
	"ticketing/common/mongodb"
	"ticketing/services/orders/internal/order"
)

// eventDoc is the replica of an event: what event.created says about its sale.
type eventDoc struct {
	ID         string    `bson:"_id"`
	OnSaleAt   time.Time `bson:"onSaleAt"`
	MaxPerUser int       `bson:"maxPerUser"`
	Version    int64     `bson:"version"`
}

// InsertSale stores an event's sale, first seen. A redelivered event.created is a Duplicate.
func (s *Store) InsertSale(ctx context.Context, sale order.Sale, version int64) (bus.Outcome, error) {
	return bus.InsertReplica(ctx, s.events, eventDoc{ID: sale.EventID, OnSaleAt: sale.OnSaleAt.UTC(), MaxPerUser: sale.MaxPerUser, Version: version})
}

// Sale reads event id's sale; order.ErrNotOnSale when the event is not replicated yet.
func (s *Store) Sale(ctx context.Context, id string) (order.Sale, error) {
	return mongodb.FindOne(ctx, s.events, bson.M{"_id": id}, order.ErrNotOnSale, "read event "+id, func(d eventDoc) order.Sale {
		return order.Sale{EventID: d.ID, OnSaleAt: d.OnSaleAt.UTC(), MaxPerUser: d.MaxPerUser}
	})
}

// HoldWithin takes h, a new order's hold, on ticketID for userID within sale's limit: first
// one of the user's slots in the sale, then the ticket (Hold). Each is one conditional write
// that matches only a free slot or ticket, so that replicas racing for the last slot, or for
// the ticket, cannot both win; the slot's hold lapses with the ticket's, and is released when
// the ticket cannot be held. Errors: order.ErrLimitReached, order.ErrTicketReserved,
// order.ErrTicketNotFound (also for a ticket of no event). It returns the ticket and the slot
// taken, which the order keeps (order.Order.Slot).
func (s *Store) HoldWithin(ctx context.Context, sale order.Sale, userID, ticketID string, h order.Hold, now time.Time) (order.Ticket, string, error) {
	slot, err := s.takeSlot(ctx, sale.Slots(userID), h, now)
	if err != nil {
		return order.Ticket{}, "", err
	}
	t, err := s.hold(ctx, ticketID, userID, h, now, true)
	if err != nil {
		if rerr := s.ReleaseSlot(ctx, slot, h.OrderID); rerr != nil {
			err = fmt.Errorf("%w (and the slot's release failed, it lapses by itself: %v)", err, rerr)
		}
		return order.Ticket{}, "", err
	}
	return t, slot, nil
}

// A slot, one of a user's places in a sale's limit (order.Sale.Slots), is a document
// {_id, holder, holdUntil}: held by at most one order, until its hold lapses, as a ticket is.
//
// takeSlot gives h the first of slots that is free at now (never taken, released, or
// lapsed), trying them in order, each by one conditional upsert that matches only a free
// slot: an upsert that finds the slot held tries to insert it and fails on its _id, and the
// next is tried. A buyer's first order of an event costs one write, their n-th n writes (the
// limit is small). There is no read first: a read of several slots by _id ($in) is a
// collection scan on the stand-in, whose cost grew with every buyer of every event.
func (s *Store) takeSlot(ctx context.Context, slots []string, h order.Hold, now time.Time) (string, error) {
	for _, id := range slots {
		_, err := s.slots.UpdateOne(ctx,
			bson.M{"_id": id, "$or": free(now)},
			bson.M{"$set": bson.M{"holder": h.OrderID, "holdUntil": h.Until}},
			options.UpdateOne().SetUpsert(true))
		switch {
		case err == nil:
			return id, nil
		case mongo.IsDuplicateKeyError(err):
			continue // held
		default:
			return "", fmt.Errorf("take slot %s: %w", id, err)
		}
	}
	return "", order.ErrLimitReached
}

// ExtendSlot extends slot, held by h's order, to h.Until (never shortens it): an order whose
// ticket hold grows (a payment started) keeps its place in the limit.
func (s *Store) ExtendSlot(ctx context.Context, slot string, h order.Hold) error {
	if err := s.updateSlot(ctx, slot, h.OrderID, bson.M{"$max": bson.M{"holdUntil": h.Until}}); err != nil {
		return fmt.Errorf("extend the slot of order %s: %w", h.OrderID, err)
	}
	return nil
}

// ReleaseSlot frees slot if orderID holds it.
func (s *Store) ReleaseSlot(ctx context.Context, slot, orderID string) error {
	if err := s.updateSlot(ctx, slot, orderID, bson.M{"$set": bson.M{"holder": "", "holdUntil": time.Time{}}}); err != nil {
		return fmt.Errorf("release the slot of order %s: %w", orderID, err)
	}
	return nil
}

// updateSlot applies update to slot if orderID holds it: one write naming the slot by _id, so
// that it touches (and, on the stand-in, locks) that slot alone. Orders stored before they
// kept their slot name none: theirs is found by holder.
func (s *Store) updateSlot(ctx context.Context, slot, orderID string, update bson.M) error {
	if slot == "" {
		_, err := s.slots.UpdateMany(ctx, bson.M{"holder": orderID}, update)
		return err
	}
	_, err := s.slots.UpdateOne(ctx, bson.M{"_id": slot, "holder": orderID}, update)
	return err
}

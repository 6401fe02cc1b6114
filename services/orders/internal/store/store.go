// Package store keeps orders and the replica of tickets in MongoDB. Every write that must
// hold under concurrency is one conditional single-document update; an order's change is
// written with its event in the order's outbox and handed to the relay (bus.Writer).
package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/mongodb"
	"ticketing/services/orders/internal/order"
)

// Collection names in the orders database.
const (
	OrdersCollection  = "orders"
	TicketsCollection = "tickets"
	EventsCollection  = "events"
	SlotsCollection   = "slots"
)

// attempts bounds the reads of an order that changed under a conditional write. An order
// changes at most twice in its life, so more attempts than that mean a fault.
const attempts = 5

// Store is the orders database.
type Store struct {
	orders  *mongo.Collection
	w       *bus.Writer // of orders
	tickets *mongo.Collection
	events  *mongo.Collection
	slots   *mongo.Collection
	held    *seenHeld
	recent  *remembered

	// eventOf remembers the event of the tickets seen to have one (ticket id -> event id),
	// eventCount how many it holds.
	eventOf    sync.Map
	eventCount atomic.Int64
}

// New is the store of db; the events of the orders it writes go to relay.
func New(db *mongo.Database, relay bus.Notifier) *Store {
	orders := db.Collection(OrdersCollection)
	return &Store{orders: orders, w: bus.NewWriter(orders, relay), tickets: db.Collection(TicketsCollection),
		events: db.Collection(EventsCollection), slots: db.Collection(SlotsCollection), held: &seenHeld{},
		recent: &remembered{}}
}

// Orders is the orders collection, whose documents carry the outbox the relay publishes.
func (s *Store) Orders() *mongo.Collection { return s.orders }

// EnsureIndexes creates the indexes the queries need, if missing: the sweeper's
// {status, expiresAt}, the listing's {userId, _id}, and the release of a sale's slot by its
// holder.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	if err := mongodb.EnsureIndexes(ctx, s.orders,
		mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "expiresAt", Value: 1}}, Options: options.Index().SetName("status_expiresAt")},
		mongo.IndexModel{Keys: bson.D{{Key: "userId", Value: 1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("userId_id")}); err != nil {
		return err
	}
	return mongodb.EnsureIndexes(ctx, s.slots,
		mongo.IndexModel{Keys: bson.D{{Key: "holder", Value: 1}}, Options: options.Index().SetName("holder")})
}

// orderDoc is an order as stored, with its pending events.
type orderDoc struct {
	ID             string         `bson:"_id"`
	UserID         string         `bson:"userId"`
	Status         string         `bson:"status"`
	ExpiresAt      time.Time      `bson:"expiresAt"`
	ReservedUntil  time.Time      `bson:"reservedUntil,omitempty"`
	PaymentUntil   time.Time      `bson:"paymentUntil,omitempty"`
	PaymentAttempt int            `bson:"paymentAttempt,omitempty"`
	Version        int64          `bson:"version"`
	Ticket         orderTicketDoc `bson:"ticket"`
	Slot           string         `bson:"slot,omitempty"`
	History        []changeDoc    `bson:"history,omitempty"`
	bus.Outbox     `bson:",inline"`
}

// changeDoc is one step of an order's history.
type changeDoc struct {
	Status string    `bson:"status"`
	At     time.Time `bson:"at"`
	Cause  string    `bson:"cause"`
}

func historyDocs(h []order.Change) []changeDoc {
	out := make([]changeDoc, len(h))
	for i, c := range h {
		out[i] = changeDoc{Status: string(c.Status), At: c.At.UTC(), Cause: string(c.Cause)}
	}
	return out
}

type orderTicketDoc struct {
	ID         string `bson:"id"`
	Title      string `bson:"title"`
	PriceCents int64  `bson:"priceCents"`
	Version    int64  `bson:"version"`
	EventID    string `bson:"eventId,omitempty"`
}

func (d orderDoc) domain() order.Order {
	return order.Order{
		ID:        d.ID,
		UserID:    d.UserID,
		Status:    events.OrderStatus(d.Status),
		ExpiresAt: d.ExpiresAt.UTC(),
		Version:   d.Version,
		Ticket: order.Ticket{
			ID:         d.Ticket.ID,
			Title:      d.Ticket.Title,
			PriceCents: d.Ticket.PriceCents,
			Version:    d.Ticket.Version,
			EventID:    d.Ticket.EventID,
		},
		ReservedUntil:  utcOrZero(d.ReservedUntil),
		PaymentUntil:   utcOrZero(d.PaymentUntil),
		PaymentAttempt: d.PaymentAttempt,
		Slot:           d.Slot,
		History:        history(d.History),
	}
}

func history(docs []changeDoc) []order.Change {
	if len(docs) == 0 {
		return nil
	}
	out := make([]order.Change, len(docs))
	for i, c := range docs {
		out[i] = order.Change{Status: events.OrderStatus(c.Status), At: c.At.UTC(), Cause: order.Cause(c.Cause)}
	}
	return out
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// orderProjection leaves the outbox out of reads.
var orderProjection = bson.M{bus.OutboxField: 0}

// InsertOrder stores a new order with its order.created.
func (s *Store) InsertOrder(ctx context.Context, o order.Order) error {
	err := s.w.Insert(ctx, o.ID, &orderDoc{
		ID:            o.ID,
		UserID:        o.UserID,
		Status:        string(o.Status),
		ExpiresAt:     o.ExpiresAt.UTC(),
		ReservedUntil: utcOrZero(o.ReservedUntil),
		Version:       o.Version,
		Ticket: orderTicketDoc{
			ID:         o.Ticket.ID,
			Title:      o.Ticket.Title,
			PriceCents: o.Ticket.PriceCents,
			Version:    o.Ticket.Version,
			EventID:    o.Ticket.EventID,
		},
		Slot:    o.Slot,
		History: historyDocs(o.History),
	}, o.Event())
	if err != nil {
		return fmt.Errorf("insert order %s: %w", o.ID, err)
	}
	s.recent.stored(o)
	return nil
}

// Order reads one order; order.ErrNotFound when there is none.
func (s *Store) Order(ctx context.Context, id string) (order.Order, error) {
	return mongodb.FindOne(ctx, s.orders, bson.M{"_id": id}, order.ErrNotFound, "read order "+id, orderDoc.domain,
		options.FindOne().SetProjection(orderProjection))
}

// ListByUser returns userID's orders newest first: at most limit, and only those older than
// the order after when it is not empty.
func (s *Store) ListByUser(ctx context.Context, userID, after string, limit int) ([]order.Order, error) {
	filter := bson.M{"userId": userID}
	if after != "" {
		filter["_id"] = bson.M{"$lt": after}
	}
	return s.find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "_id", Value: -1}}).
		SetLimit(int64(limit)).
		SetProjection(orderProjection))
}

// Overdue returns up to limit live orders whose expiresAt is before before, oldest first.
//
// One query per live status, each an equality on status: FerretDB (the stand-in) answers
// an equality from an index but pushes no $in down, and would read every order.
func (s *Store) Overdue(ctx context.Context, before time.Time, limit int) ([]order.Order, error) {
	var out []order.Order
	for _, st := range liveStatuses() {
		got, err := s.find(ctx, bson.M{"status": st, "expiresAt": bson.M{"$lt": before}}, options.Find().
			SetSort(bson.D{{Key: "expiresAt", Value: 1}}).
			SetLimit(int64(limit)).
			SetProjection(orderProjection))
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	slices.SortFunc(out, func(a, b order.Order) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	return out[:min(limit, len(out))], nil
}

func (s *Store) find(ctx context.Context, filter bson.M, opts *options.FindOptionsBuilder) ([]order.Order, error) {
	return mongodb.Find(ctx, s.orders, filter, "find orders", orderDoc.domain, opts)
}

func liveStatuses() []string {
	var out []string
	for _, s := range events.OrderStatuses {
		if s.Live() {
			out = append(out, string(s))
		}
	}
	return out
}

// Transition stores n, o after a domain transition (its status, deadlines, version and
// history), with the event that announces it, in one write conditional on o still being at
// the status, version and length of history it was read at (a refund is recorded in the
// history without a new version). It reports false when o changed in between (the caller
// re-reads and decides again).
func (s *Store) Transition(ctx context.Context, o, n order.Order) (bool, error) {
	set := bson.M{"status": string(n.Status), "version": n.Version, "expiresAt": n.ExpiresAt.UTC(),
		"paymentAttempt": n.PaymentAttempt, "history": historyDocs(n.History)}
	if !n.ReservedUntil.IsZero() {
		set["reservedUntil"] = n.ReservedUntil.UTC()
	}
	if !n.PaymentUntil.IsZero() {
		set["paymentUntil"] = n.PaymentUntil.UTC()
	}
	ok, err := s.w.Update(ctx, o.ID, bson.D{{Key: "status", Value: string(o.Status)}, {Key: "version", Value: o.Version},
		{Key: "history", Value: historyOfLength(len(o.History))}},
		bson.M{"$set": set}, n.Event())
	if err != nil {
		s.recent.forget(o.ID)
		return false, fmt.Errorf("order %s %s -> %s: %w", o.ID, o.Status, n.Status, err)
	}
	if !ok {
		s.recent.forget(o.ID)
		return false, nil
	}
	s.recent.stored(n)
	return true, nil
}

// historyOfLength matches a history of n changes; none matches an order stored before
// histories were kept too.
func historyOfLength(n int) bson.M {
	if n == 0 {
		return bson.M{"$exists": false}
	}
	return bson.M{"$size": n}
}

// UpdateOrder reads order id, computes its next state with change (a domain transition), and
// stores it with Transition when it changed; when another write changed the order first it
// reads and decides again (mongodb.Update). It returns the order as stored; when change
// fails, the order read and change's error.
//
// An order this replica stored and still remembers is not read first: change runs on the
// order as remembered, and only a transition that Transition stores from it counts. When
// change fails or changes nothing there, or the order is no longer as remembered, the order
// is read and change runs again on what is stored. So change may run twice, and must leave
// its result to its last run.
func (s *Store) UpdateOrder(ctx context.Context, id string, change func(order.Order) (order.Order, error)) (order.Order, error) {
	if o, ok := s.recent.get(id); ok {
		if next, err := change(o); err == nil && next.Version == o.Version+1 {
			stored, err := s.Transition(ctx, o, next)
			if err != nil {
				return order.Order{}, err
			}
			if stored {
				return next, nil
			}
		}
	}
	return mongodb.Update(ctx, attempts,
		func(ctx context.Context) (order.Order, error) { return s.Order(ctx, id) },
		change,
		func(ctx context.Context, prev, next order.Order) error {
			if next.Version == prev.Version {
				return nil // nothing to write
			}
			if next.Version != prev.Version+1 {
				return fmt.Errorf("order %s: version %d cannot follow %d", id, next.Version, prev.Version)
			}
			ok, err := s.Transition(ctx, prev, next)
			if err == nil && !ok {
				err = mongodb.ErrChanged
			}
			return err
		})
}

// NewID is a fresh order id: a time-ordered ObjectID in hex.
func NewID() string { return bson.NewObjectID().Hex() }

// AddToHistory adds {status, at, cause} to order id's history, with the order's current
// status, once per cause: a change that is not a transition (a refund of a cancelled order's
// payment), announced by no event. A cause already in the history changes nothing; an order
// not stored is order.ErrNotFound. The write is conditional on the history read, so two
// deliveries of one fact add it once.
func (s *Store) AddToHistory(ctx context.Context, id string, cause order.Cause, at time.Time) error {
	for range attempts {
		o, err := s.Order(ctx, id)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(o.History, func(c order.Change) bool { return c.Cause == cause }) {
			return nil
		}
		h := append(slices.Clip(o.History), order.Change{Status: o.Status, At: at.UTC(), Cause: cause})
		res, err := s.orders.UpdateOne(ctx, bson.M{"_id": id, "version": o.Version, "history": historyOfLength(len(o.History))},
			bson.M{"$set": bson.M{"history": historyDocs(h)}})
		if err != nil {
			return fmt.Errorf("add %s to the history of order %s: %w", cause, id, err)
		}
		if res.MatchedCount == 1 {
			return nil
		}
	}
	return fmt.Errorf("add %s to the history of order %s: %w", cause, id, mongodb.ErrChanged)
}

// Package store keeps tickets in MongoDB. Every change is one conditional single-document
// write on the version that was read, which also appends the change's event to the
// document's outbox; the outbox relay publishes it.
package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing/common/bus"
	"ticketing/common/errs"
	"ticketing/common/events"
	"ticketing/common/mongodb"
	"ticketing/services/tickets/internal/ticket"
)

// Collection is the name of the tickets collection.
const Collection = "tickets"

var (
	// ErrNotFound says no ticket has the id (a malformed id included). It is an errs.NotFound.
	ErrNotFound = errs.New(errs.NotFound, "Ticket not found")

	// ErrLostRace says another write changed the ticket between the read and the write.
	ErrLostRace = errors.New("store: the ticket changed since it was read")
)

// Store reads and writes tickets.
type Store struct {
	coll *mongo.Collection
}

// New is a store on db's tickets collection.
func New(db *mongo.Database) *Store { return &Store{coll: db.Collection(Collection)} }

// Collection is the collection whose outbox the relay publishes.
func (s *Store) Collection() *mongo.Collection { return s.coll }

// EnsureIndexes creates the indexes of the queries the store makes. Writes filter on _id
// (plus the version), which the primary key serves; the listing needs free tickets by
// descending id.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	_, err := s.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "orderId", Value: 1}, {Key: "_id", Value: -1}},
		Options: options.Index().SetName("free_newest_first"),
	})
	if err != nil {
		return fmt.Errorf("tickets index: %w", err)
	}
	return nil
}

// document is a ticket as stored.
type document struct {
	ID             string    `bson:"_id"`
	Title          string    `bson:"title"`
	PriceCents     int64     `bson:"priceCents"`
	UserID         string    `bson:"userId"`
	Version        int64     `bson:"version"`
	OrderID        string    `bson:"orderId"`
	Sold           bool      `bson:"sold"`
	ReleasedOrders []string  `bson:"releasedOrders"`
	CreatedAt      time.Time `bson:"createdAt"`
	bus.Outbox     `bson:",inline"`
}

func toDocument(t ticket.Ticket) document {
	released := t.ReleasedOrders
	if released == nil {
		released = []string{} // $addToSet needs an array, not a missing field
	}
	return document{
		ID: t.ID, Title: t.Title, PriceCents: t.PriceCents, UserID: t.UserID, Version: t.Version,
		OrderID: t.OrderID, Sold: t.Sold, ReleasedOrders: released, CreatedAt: t.CreatedAt.UTC(),
	}
}

func (d document) ticket() ticket.Ticket {
	return ticket.Ticket{
		ID: d.ID, Title: d.Title, PriceCents: d.PriceCents, UserID: d.UserID, Version: d.Version,
		OrderID: d.OrderID, Sold: d.Sold, ReleasedOrders: d.ReleasedOrders, CreatedAt: d.CreatedAt,
	}
}

// withoutOutbox leaves the pending events out of what is read.
var withoutOutbox = bson.M{bus.OutboxField: 0}

// Created is the ticket.created event of t.
func Created(t ticket.Ticket) events.TicketCreated {
	return events.TicketCreated{ID: t.ID, Version: t.Version, Title: t.Title, PriceCents: t.PriceCents, UserID: t.UserID}
}

// Updated is the ticket.updated event of t; OrderID is null when the ticket is free.
func Updated(t ticket.Ticket) events.TicketUpdated {
	e := events.TicketUpdated{ID: t.ID, Version: t.Version, Title: t.Title, PriceCents: t.PriceCents, UserID: t.UserID}
	if t.OrderID != "" {
		order := t.OrderID
		e.OrderID = &order
	}
	return e
}

// Create stores a new ticket with its ticket.created event, which it returns for the relay.
func (s *Store) Create(ctx context.Context, t ticket.Ticket) (bus.Envelope, error) {
	env, err := bus.NewEnvelope(ctx, Created(t))
	if err != nil {
		return bus.Envelope{}, err
	}
	doc := toDocument(t)
	doc.Outbox = bus.NewOutbox(env)
	if _, err := s.coll.InsertOne(ctx, doc); err != nil {
		return bus.Envelope{}, fmt.Errorf("insert ticket %s: %w", t.ID, err)
	}
	return env, nil
}

// Get reads a ticket.
func (s *Store) Get(ctx context.Context, id string) (ticket.Ticket, error) {
	var d document
	err := s.coll.FindOne(ctx, bson.M{"_id": id}, options.FindOne().SetProjection(withoutOutbox)).Decode(&d)
	if mongodb.IsNotFound(err) {
		return ticket.Ticket{}, ErrNotFound
	}
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("read ticket %s: %w", id, err)
	}
	return d.ticket(), nil
}

// ListFree is at most limit tickets that no order holds, newest first, with an id below
// after when after is not "".
func (s *Store) ListFree(ctx context.Context, after string, limit int) ([]ticket.Ticket, error) {
	filter := bson.M{"orderId": ""}
	if after != "" {
		filter["_id"] = bson.M{"$lt": after}
	}
	cur, err := s.coll.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "_id", Value: -1}}).
		SetLimit(int64(limit)).
		SetProjection(withoutOutbox))
	if err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	var docs []document
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	out := make([]ticket.Ticket, len(docs))
	for i, d := range docs {
		out[i] = d.ticket()
	}
	return out, nil
}

// Apply stores next, which the domain computed from prev, in one write conditional on prev's
// version. A new version sets the state and appends its ticket.updated event; orders added
// to ReleasedOrders are added to the set, with or without a new version. It returns
// ErrLostRace when the ticket changed since prev was read, and the event it queued, if any
// (when it stored a new version), which the relay must then be told about.
func (s *Store) Apply(ctx context.Context, prev, next ticket.Ticket) ([]bus.Envelope, error) {
	if next.ID != prev.ID {
		return nil, fmt.Errorf("store: apply %s onto %s", next.ID, prev.ID)
	}
	var released []string
	for _, o := range next.ReleasedOrders {
		if !slices.Contains(prev.ReleasedOrders, o) {
			released = append(released, o)
		}
	}
	filter := bson.D{{Key: "_id", Value: prev.ID}, {Key: "version", Value: prev.Version}}
	update := bson.M{}
	var queued []bus.Envelope
	if len(released) > 0 {
		update["$addToSet"] = bson.M{"releasedOrders": bson.M{"$each": released}}
	}
	switch next.Version {
	case prev.Version:
		if len(released) == 0 {
			return nil, nil // nothing changed
		}
	case prev.Version + 1:
		if next.OrderID != "" && next.OrderID != prev.OrderID {
			// A release that records next.OrderID does not change the version: make sure
			// none landed since prev was read, or a cancelled order would hold the ticket.
			filter = append(filter, bson.E{Key: "releasedOrders", Value: bson.M{"$ne": next.OrderID}})
		}
		env, err := bus.NewEnvelope(ctx, Updated(next))
		if err != nil {
			return nil, err
		}
		queued = []bus.Envelope{env}
		update["$set"] = bson.M{
			"title":      next.Title,
			"priceCents": next.PriceCents,
			"orderId":    next.OrderID,
			"sold":       next.Sold,
			"version":    next.Version,
		}
		bus.AddOutbox(update, queued...)
	default:
		return nil, fmt.Errorf("store: ticket %s version %d cannot follow %d", next.ID, next.Version, prev.Version)
	}
	res, err := s.coll.UpdateOne(ctx, filter, update)
	if err != nil {
		return nil, fmt.Errorf("update ticket %s: %w", prev.ID, err)
	}
	if res.MatchedCount == 0 {
		return nil, ErrLostRace
	}
	return queued, nil
}

// Update reads ticket id, computes its next state with change, and applies it; when another
// write wins the race it reads and computes again, at most attempts times. It returns the
// stored state and the event this call queued, if any (when it stored a new version). An error from
// change is returned as it is.
func (s *Store) Update(ctx context.Context, id string, attempts int, change func(ticket.Ticket) (ticket.Ticket, error)) (ticket.Ticket, []bus.Envelope, error) {
	for attempt := range attempts {
		if attempt > 0 {
			if err := pause(ctx, attempt); err != nil {
				return ticket.Ticket{}, nil, err
			}
		}
		prev, err := s.Get(ctx, id)
		if err != nil {
			return ticket.Ticket{}, nil, err
		}
		next, err := change(prev)
		if err != nil {
			return prev, nil, err
		}
		queued, err := s.Apply(ctx, prev, next)
		if errors.Is(err, ErrLostRace) {
			continue
		}
		if err != nil {
			return ticket.Ticket{}, nil, err
		}
		return next, queued, nil
	}
	return ticket.Ticket{}, nil, fmt.Errorf("ticket %s: gave up after %d attempts: %w", id, attempts, ErrLostRace)
}

// pause waits a short random time that grows with the attempt, so that racing writers
// spread out instead of colliding again.
func pause(ctx context.Context, attempt int) error {
	ceiling := time.Duration(min(1<<min(attempt, 6), 50)) * time.Millisecond
	t := time.NewTimer(rand.N(ceiling) + time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/mongodb"
	"ticketing/services/tickets/internal/event"
	"ticketing/services/tickets/internal/ticket"
)

// EventsCollection is the name of the events collection.
const EventsCollection = "events"

// insertBatch is how many tickets of an event one insert carries.
const insertBatch = 1000

// eventDocument is an event as stored.
type eventDocument struct {
	ID             string    `bson:"_id"`
	Title          string    `bson:"title"`
	UserID         string    `bson:"userId"`
	OnSaleAt       time.Time `bson:"onSaleAt"`
	TicketCount    int       `bson:"ticketCount"`
	PriceCents     int64     `bson:"priceCents"`
	MaxPerUser     int       `bson:"maxPerUser"`
	AdmitPerMinute int       `bson:"admitPerMinute"`
	Version        int64     `bson:"version"`
	CreatedAt      time.Time `bson:"createdAt"`
	bus.Outbox     `bson:",inline"`
}

func (d eventDocument) event() event.Event {
	return event.Event{
		ID: d.ID, Title: d.Title, UserID: d.UserID, OnSaleAt: d.OnSaleAt.UTC(), TicketCount: d.TicketCount,
		PriceCents: d.PriceCents, MaxPerUser: d.MaxPerUser, AdmitPerMinute: d.AdmitPerMinute,
		Version: d.Version, CreatedAt: d.CreatedAt.UTC(),
	}
}

// Events is the collection of events, whose outbox a relay publishes.
func (s *Store) Events() *mongo.Collection { return s.events }

// CreateEvent stores e with its event.created, then its tickets with their ticket.created,
// in batches. The event is written first, so that a reader of the bus knows the event (its
// on-sale time and limit) before any of its tickets. A failure part way leaves the event
// with the tickets stored so far, each announced.
func (s *Store) CreateEvent(ctx context.Context, e event.Event, tickets []ticket.Ticket) error {
	doc := eventDocument{
		ID: e.ID, Title: e.Title, UserID: e.UserID, OnSaleAt: e.OnSaleAt.UTC(), TicketCount: e.TicketCount,
		PriceCents: e.PriceCents, MaxPerUser: e.MaxPerUser, AdmitPerMinute: e.AdmitPerMinute,
		Version: e.Version, CreatedAt: e.CreatedAt.UTC(),
	}
	if err := s.ew.Insert(ctx, e.ID, &doc, e.Created()); err != nil {
		return fmt.Errorf("insert event %s: %w", e.ID, err)
	}
	for start := 0; start < len(tickets); start += insertBatch {
		batch := tickets[start:min(start+insertBatch, len(tickets))]
		ids := make([]string, len(batch))
		docs := make([]bus.Outboxed, len(batch))
		evs := make([][]events.Event, len(batch))
		for i, t := range batch {
			d := toDocument(t)
			ids[i], docs[i], evs[i] = t.ID, &d, []events.Event{t.Created()}
		}
		if err := s.w.InsertMany(ctx, ids, docs, evs); err != nil {
			return fmt.Errorf("insert tickets of event %s: %w", e.ID, err)
		}
	}
	return nil
}

// Event reads event id; event.ErrNotFound when there is none.
func (s *Store) Event(ctx context.Context, id string) (event.Event, error) {
	return mongodb.FindOne(ctx, s.events, bson.M{"_id": id}, event.ErrNotFound, "read event "+id, eventDocument.event,
		options.FindOne().SetProjection(withoutOutbox))
}

// EventPage is where a listing of events starts: after the event At (its onSaleAt) and ID.
type EventPage struct {
	At time.Time
	ID string
}

// ListEvents is at most limit events, soonest onSaleAt first (then by id), after the event
// after when it is not nil.
func (s *Store) ListEvents(ctx context.Context, after *EventPage, limit int) ([]event.Event, error) {
	filter := bson.M{}
	if after != nil {
		filter["$or"] = bson.A{
			bson.M{"onSaleAt": bson.M{"$gt": after.At}},
			bson.M{"onSaleAt": after.At, "_id": bson.M{"$gt": after.ID}},
		}
	}
	return mongodb.Find(ctx, s.events, filter, "list events", eventDocument.event, options.Find().
		SetSort(bson.D{{Key: "onSaleAt", Value: 1}, {Key: "_id", Value: 1}}).
		SetLimit(int64(limit)).
		SetProjection(withoutOutbox))
}

// CountFree is how many of event id's tickets no order holds.
func (s *Store) CountFree(ctx context.Context, id string) (int, error) {
	n, err := s.coll.CountDocuments(ctx, bson.M{"eventId": id, "orderId": ""})
	if err != nil {
		return 0, fmt.Errorf("count free tickets of event %s: %w", id, err)
	}
	return int(n), nil
}

// Package store keeps tickets in MongoDB. Every change is one conditional single-document
// write on the version that was read, which also appends the change's event to the
// document's outbox and hands it to the outbox relay (bus.Writer).
package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"ticketing/common/bus"
	"ticketing/common/mongodb"
	"ticketing/services/tickets/internal/ticket"
)

// Collection is the name of the tickets collection.
const Collection = "tickets"

// ErrLostRace says another write changed the ticket between the read and the write.
var ErrLostRace = mongodb.ErrChanged

// Store reads and writes tickets and events.
type Store struct {
	coll    *mongo.Collection // the primary: every read that decides, and every write
	listing *mongo.Collection // the listing reads (ListFree, Show): the primary unless set
	w       *bus.Writer
	events  *mongo.Collection
	ew      *bus.Writer
}

// New is a store on db's tickets collection that hands the events it writes to relay, and
// on its events collection, whose events go to eventsRelay.
func New(db *mongo.Database, relay, eventsRelay bus.Notifier) *Store {
	coll := db.Collection(Collection)
	evs := db.Collection(EventsCollection)
	return &Store{coll: coll, listing: coll, w: bus.NewWriter(coll, relay), events: evs, ew: bus.NewWriter(evs, eventsRelay)}
}

// SetListingReads sends the listing reads (ListFree, Show) to rp, for instance
// secondaryPreferred; every other read stays on the primary. Call it before use.
func (s *Store) SetListingReads(rp *readpref.ReadPref) {
	s.listing = s.coll.Database().Collection(Collection, options.Collection().SetReadPreference(rp))
}

// Collection is the collection whose outbox the relay publishes.
func (s *Store) Collection() *mongo.Collection { return s.coll }

// EnsureIndexes creates the indexes of the queries the store makes. Writes filter on _id
// (plus the version), which the primary key serves; the listing needs free tickets by
// descending id.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	if err := mongodb.EnsureIndexes(ctx, s.coll, mongo.IndexModel{
		Keys:    bson.D{{Key: "orderId", Value: 1}, {Key: "_id", Value: -1}},
		Options: options.Index().SetName("free_newest_first"),
	}, mongo.IndexModel{
		Keys:    bson.D{{Key: "eventId", Value: 1}, {Key: "orderId", Value: 1}, {Key: "_id", Value: -1}},
		Options: options.Index().SetName("event_free_newest_first"),
	}); err != nil {
		return err
	}
	return mongodb.EnsureIndexes(ctx, s.events, mongo.IndexModel{
		Keys:    bson.D{{Key: "onSaleAt", Value: 1}, {Key: "_id", Value: 1}},
		Options: options.Index().SetName("onSaleAt_id"),
	})
}

// document is a ticket as stored.
type document struct {
	ID             string    `bson:"_id"`
	Title          string    `bson:"title"`
	PriceCents     int64     `bson:"priceCents"`
	UserID         string    `bson:"userId"`
	Version        int64     `bson:"version"`
	EditedVersion  int64     `bson:"editedVersion"`
	OrderID        string    `bson:"orderId"`
	Sold           bool      `bson:"sold"`
	ReleasedOrders []string  `bson:"releasedOrders"`
	RefusedOrders  []string  `bson:"refusedOrders,omitempty"`
	CreatedAt      time.Time `bson:"createdAt"`
	EventID        string    `bson:"eventId,omitempty"`
	bus.Outbox     `bson:",inline"`
}

// nonNil is list, or an empty one for nil: the field is always an array.
func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

func toDocument(t ticket.Ticket) document {
	released := nonNil(t.ReleasedOrders)
	return document{
		ID: t.ID, Title: t.Title, PriceCents: t.PriceCents, UserID: t.UserID, Version: t.Version,
		EditedVersion: t.EditedVersion, OrderID: t.OrderID, Sold: t.Sold, ReleasedOrders: released,
		RefusedOrders: t.RefusedOrders, CreatedAt: t.CreatedAt.UTC(), EventID: t.EventID,
	}
}

func (d document) ticket() ticket.Ticket {
	return ticket.Ticket{
		ID: d.ID, Title: d.Title, PriceCents: d.PriceCents, UserID: d.UserID, Version: d.Version,
		EditedVersion: d.EditedVersion, OrderID: d.OrderID, Sold: d.Sold, ReleasedOrders: d.ReleasedOrders,
		RefusedOrders: d.RefusedOrders, CreatedAt: d.CreatedAt, EventID: d.EventID,
	}
}

// withoutOutbox leaves the pending events out of what is read.
var withoutOutbox = bson.M{bus.OutboxField: 0}

// Create stores a new ticket with its ticket.created event.
func (s *Store) Create(ctx context.Context, t ticket.Ticket) error {
	doc := toDocument(t)
	if err := s.w.Insert(ctx, t.ID, &doc, t.Created()); err != nil {
		return fmt.Errorf("insert ticket %s: %w", t.ID, err)
	}
	return nil
}

// Get reads a ticket from the primary, to decide a change.
func (s *Store) Get(ctx context.Context, id string) (ticket.Ticket, error) {
	return s.get(ctx, s.coll, id)
}

// Show reads a ticket to show it, as the listing reads do (it may come from a secondary).
func (s *Store) Show(ctx context.Context, id string) (ticket.Ticket, error) {
	return s.get(ctx, s.listing, id)
}

func (s *Store) get(ctx context.Context, coll *mongo.Collection, id string) (ticket.Ticket, error) {
	return mongodb.FindOne(ctx, coll, bson.M{"_id": id}, ticket.ErrNotFound, "read ticket "+id, document.ticket,
		options.FindOne().SetProjection(withoutOutbox))
}

// ListFree is at most limit tickets that no order holds, newest first, with an id below
// after when after is not "", of event eventID when it is not "". It is a listing read (it may
// come from a secondary).
func (s *Store) ListFree(ctx context.Context, eventID, after string, limit int) ([]ticket.Ticket, error) {
	filter := bson.M{"orderId": ""}
	if eventID != "" {
		filter["eventId"] = eventID
	}
	if after != "" {
		filter["_id"] = bson.M{"$lt": after}
	}
	return mongodb.Find(ctx, s.listing, filter, "list tickets", document.ticket, options.Find().
		SetSort(bson.D{{Key: "_id", Value: -1}}).
		SetLimit(int64(limit)).
		SetProjection(withoutOutbox))
}

// Apply stores next, which the domain computed from prev, in one write conditional on prev's
// version. A new version sets the state and, for an edit (ticket.Announced), appends its
// ticket.updated event, which the relay is told about; a change of ReleasedOrders or
// RefusedOrders (bounded by the domain to the last ticket.KeepReleased) is stored as a whole,
// with or without a new version, on the condition that the stored list is still prev's, with
// the ticket.refused events of the orders newly refused (ticket.Refusals). It reports whether
// it stored a new version; ErrLostRace when the ticket changed since prev was read.
func (s *Store) Apply(ctx context.Context, prev, next ticket.Ticket) (bool, error) {
	if next.ID != prev.ID {
		return false, fmt.Errorf("store: apply %s onto %s", next.ID, prev.ID)
	}
	released := !slices.Equal(prev.ReleasedOrders, next.ReleasedOrders)
	refused := !slices.Equal(prev.RefusedOrders, next.RefusedOrders)
	cond := bson.D{{Key: "version", Value: prev.Version}}
	set := bson.M{}
	if released {
		// Another release stored since prev was read makes this write miss (ErrLostRace,
		// and the caller reads again), so that none is lost.
		cond = append(cond, bson.E{Key: "releasedOrders", Value: nonNil(prev.ReleasedOrders)})
		set["releasedOrders"] = nonNil(next.ReleasedOrders)
	}
	if refused {
		// Refusals happen at a version (no other write can land on it unseen but a release,
		// which the condition above covers); the list goes with it.
		set["refusedOrders"] = nonNil(next.RefusedOrders)
	}
	update := bson.M{}
	evs := ticket.Refusals(prev, next)
	switch next.Version {
	case prev.Version:
		if !released && !refused {
			return false, nil // nothing changed
		}
	case prev.Version + 1:
		if next.OrderID != "" && next.OrderID != prev.OrderID {
			// A release that records next.OrderID does not change the version: make sure
			// none landed since prev was read, or a cancelled order would hold the ticket.
			cond = append(cond, bson.E{Key: "releasedOrders", Value: bson.M{"$ne": next.OrderID}})
		}
		maps.Copy(set, bson.M{
			"title":         next.Title,
			"priceCents":    next.PriceCents,
			"orderId":       next.OrderID,
			"sold":          next.Sold,
			"version":       next.Version,
			"editedVersion": next.EditedVersion,
		})
		if ticket.Announced(prev, next) {
			evs = append(evs, next.Updated())
		}
	default:
		return false, fmt.Errorf("store: ticket %s version %d cannot follow %d", next.ID, next.Version, prev.Version)
	}
	update["$set"] = set
	ok, err := s.w.Update(ctx, prev.ID, cond, update, evs...)
	if err != nil {
		return false, fmt.Errorf("update ticket %s: %w", prev.ID, err)
	}
	if !ok {
		return false, ErrLostRace
	}
	return next.Version != prev.Version, nil
}

// ReserveFree reserves ticket id for order, which saw the ticket at version seen (nil: not
// said), in one write, conditional on the ticket being free, not edited after seen, and order
// not released: ticket.Reserve's usual case, and order.created's, decided without a read. It
// reports whether it wrote, with the ticket as written; when not, the caller reads and
// decides (Update with ticket.Reserve): a redelivery, a late event, a ticket held by another
// order, or one edited since the order saw it (or stored before editedVersion was kept).
func (s *Store) ReserveFree(ctx context.Context, id, order string, seen *int64) (ticket.Ticket, bool, error) {
	cond := bson.D{{Key: "orderId", Value: ""}, {Key: "sold", Value: false}, {Key: "releasedOrders", Value: bson.M{"$ne": order}}}
	if seen != nil {
		cond = append(cond, bson.E{Key: "editedVersion", Value: bson.M{"$lte": *seen}})
	}
	var d document
	ok, err := s.w.UpdateAndGet(ctx, id, cond,
		bson.M{"$set": bson.M{"orderId": order}, "$inc": bson.M{"version": int64(1)}}, &d)
	if err != nil {
		return ticket.Ticket{}, false, fmt.Errorf("reserve ticket %s: %w", id, err)
	}
	if !ok {
		return ticket.Ticket{}, false, nil
	}
	return d.ticket(), true, nil
}

// ReleaseHeld frees ticket id from order, in one write conditional on order holding it
// unsold and not yet recorded as released (with room in the list of released orders):
// ticket.Release's usual case, order.cancelled's, decided without a read. It reports
// whether it wrote, with the ticket as written; when not, the caller reads and decides
// (Update with ticket.Release): a redelivery, an order that never held the ticket or lost
// it, or a list of released orders that is full and must be trimmed.
func (s *Store) ReleaseHeld(ctx context.Context, id, order string) (ticket.Ticket, bool, error) {
	cond := bson.D{{Key: "orderId", Value: order}, {Key: "sold", Value: false},
		{Key: "releasedOrders", Value: bson.M{"$ne": order}},
		{Key: fmt.Sprintf("releasedOrders.%d", ticket.KeepReleased-1), Value: bson.M{"$exists": false}}}
	var d document
	ok, err := s.w.UpdateAndGet(ctx, id, cond, bson.M{
		"$set":  bson.M{"orderId": ""},
		"$inc":  bson.M{"version": int64(1)},
		"$push": bson.M{"releasedOrders": order},
	}, &d)
	if err != nil || !ok {
		return ticket.Ticket{}, false, err
	}
	return d.ticket(), true, nil
}

// Update reads ticket id, computes its next state with change, and applies it; when another
// write wins the race it reads and computes again, at most attempts times (mongodb.Update).
// It returns the stored state and whether this call stored a new version. An error from
// change is returned as it is, with the state read.
func (s *Store) Update(ctx context.Context, id string, attempts int, change func(ticket.Ticket) (ticket.Ticket, error)) (ticket.Ticket, bool, error) {
	var stored bool
	t, err := mongodb.Update(ctx, attempts,
		func(ctx context.Context) (ticket.Ticket, error) { return s.Get(ctx, id) },
		change,
		func(ctx context.Context, prev, next ticket.Ticket) (err error) {
			stored, err = s.Apply(ctx, prev, next)
			return err
		})
	if err != nil {
		return t, false, fmt.Errorf("ticket %s: %w", id, err)
	}
	return t, stored, nil
}

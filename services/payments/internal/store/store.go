// Package store keeps the payments service's data in MongoDB: the replica of orders, the
// payments (one per order, with their outbox), and the Stripe webhook events already handled.
// A payment's change is one write conditional on the state read, with its event (bus.Writer).
package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/mongodb"
	"ticketing/services/payments/internal/payment"
)

// Collection names.
const (
	OrdersCollection   = "orders"
	PaymentsCollection = "payments"
	WebhookCollection  = "webhook_events"
)

// attempts bounds the reads of a payment that changed under a conditional write.
const attempts = 5

// Store is the payments database.
type Store struct {
	orders   *mongo.Collection
	payments *mongo.Collection
	w        *bus.Writer // of payments
	webhooks *mongo.Collection
}

// New uses db; the events of the payments it writes go to relay.
func New(db *mongo.Database, relay bus.Notifier) *Store {
	payments := db.Collection(PaymentsCollection)
	return &Store{
		orders:   db.Collection(OrdersCollection),
		payments: payments,
		w:        bus.NewWriter(payments, relay),
		webhooks: db.Collection(WebhookCollection),
	}
}

// Payments is the collection whose outbox the relay publishes.
func (s *Store) Payments() *mongo.Collection { return s.payments }

// EnsureIndexes creates the unique index that makes a payment one per order, the refund
// sweeper's {orderCancelled, status} (orderCancelled is set on few payments), and the
// reconciler's {status, updatedAt}.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	return mongodb.EnsureIndexes(ctx, s.payments,
		mongo.IndexModel{Keys: bson.D{{Key: "orderId", Value: 1}}, Options: options.Index().SetUnique(true).SetName("orderId_unique")},
		mongo.IndexModel{Keys: bson.D{{Key: "orderCancelled", Value: 1}, {Key: "status", Value: 1}}, Options: options.Index().SetName("orderCancelled_status")},
		mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "updatedAt", Value: 1}}, Options: options.Index().SetName("status_updatedAt")})
}

// ---- order replica ----

type orderDoc struct {
	ID         string    `bson:"_id"`
	UserID     string    `bson:"userId"`
	PriceCents int64     `bson:"priceCents"`
	Status     string    `bson:"status"`
	Version    int64     `bson:"version"`
	ExpiresAt  time.Time `bson:"expiresAt"`
	TicketID   string    `bson:"ticketId"`
}

func (d orderDoc) order() payment.Order {
	return payment.Order{ID: d.ID, UserID: d.UserID, PriceCents: d.PriceCents, Status: events.OrderStatus(d.Status),
		Version: d.Version, ExpiresAt: d.ExpiresAt.UTC(), TicketID: d.TicketID}
}

// InsertOrder stores a new order; a second insert of the same order is a Duplicate.
func (s *Store) InsertOrder(ctx context.Context, o payment.Order) (bus.Outcome, error) {
	return bus.InsertReplica(ctx, s.orders, orderDoc{ID: o.ID, UserID: o.UserID, PriceCents: o.PriceCents,
		Status: string(o.Status), Version: o.Version, ExpiresAt: o.ExpiresAt.UTC(), TicketID: o.TicketID})
}

// SetOrderStatus applies version of an order with status, only when the stored version is
// version-1.
func (s *Store) SetOrderStatus(ctx context.Context, id string, version int64, status events.OrderStatus) (bus.Outcome, error) {
	return bus.ApplyVersion(ctx, s.orders, id, version, bson.M{"status": string(status)})
}

// UpdateOrder applies version of a live order with its status and deadline (order.updated),
// only when the stored version is version-1.
func (s *Store) UpdateOrder(ctx context.Context, id string, version int64, status events.OrderStatus, expiresAt time.Time) (bus.Outcome, error) {
	return bus.ApplyVersion(ctx, s.orders, id, version, bson.M{"status": string(status), "expiresAt": expiresAt.UTC()})
}

// Order reads an order of the replica.
func (s *Store) Order(ctx context.Context, id string) (payment.Order, error) {
	return mongodb.FindOne(ctx, s.orders, bson.M{"_id": id}, payment.ErrOrderNotFound, "", orderDoc.order)
}

// ---- payments ----

type paymentDoc struct {
	ID          string    `bson:"_id"`
	OrderID     string    `bson:"orderId"`
	UserID      string    `bson:"userId"`
	Status      string    `bson:"status"`
	Attempt     int       `bson:"attempt"`
	StripeID    string    `bson:"stripeId"`
	AmountCents int64     `bson:"amountCents"`
	Currency    string    `bson:"currency"`
	Failure     string    `bson:"failure,omitempty"`
	Cancelled   bool      `bson:"orderCancelled,omitempty"`
	CreatedAt   time.Time `bson:"createdAt"`
	UpdatedAt   time.Time `bson:"updatedAt"`
	bus.Outbox  `bson:",inline"`
}

func (d paymentDoc) payment() payment.Payment {
	return payment.Payment{ID: d.ID, OrderID: d.OrderID, UserID: d.UserID, Status: payment.Status(d.Status),
		Attempt: d.Attempt, StripeID: d.StripeID, AmountCents: d.AmountCents, Currency: d.Currency,
		Failure: d.Failure, CreatedAt: d.CreatedAt.UTC(), OrderCancelled: d.Cancelled}
}

// NewPaymentID is a fresh payment id.
func NewPaymentID() string { return bson.NewObjectID().Hex() }

// StartPayment inserts p (status processing, attempt 1) with its payment.started. When the
// order already has a payment, it returns that one and created false: the unique index on
// orderId decides.
func (s *Store) StartPayment(ctx context.Context, p payment.Payment) (payment.Payment, bool, error) {
	now := time.Now().UTC()
	d := paymentDoc{ID: p.ID, OrderID: p.OrderID, UserID: p.UserID, Status: string(p.Status), Attempt: p.Attempt,
		AmountCents: p.AmountCents, Currency: p.Currency, CreatedAt: now, UpdatedAt: now}
	var evs []events.Event
	if eventID, e := p.Event(); e != nil {
		evs = append(evs, bus.WithID(eventID, e))
	}
	err := s.w.Insert(ctx, p.ID, &d, evs...)
	if err == nil {
		return d.payment(), true, nil
	}
	if !mongodb.IsDuplicate(err) {
		return payment.Payment{}, false, err
	}
	existing, err := s.PaymentByOrder(ctx, p.OrderID)
	return existing, false, err
}

// PaymentByOrder reads the payment of an order.
func (s *Store) PaymentByOrder(ctx context.Context, orderID string) (payment.Payment, error) {
	return s.findPayment(ctx, bson.M{"orderId": orderID})
}

// Payment reads a payment by id.
func (s *Store) Payment(ctx context.Context, id string) (payment.Payment, error) {
	return s.findPayment(ctx, bson.M{"_id": id})
}

func (s *Store) findPayment(ctx context.Context, filter bson.M) (payment.Payment, error) {
	return mongodb.FindOne(ctx, s.payments, filter, payment.ErrNotFound, "", paymentDoc.payment,
		options.FindOne().SetProjection(bson.M{bus.OutboxField: 0}))
}

// UpdatePayment reads payment id, computes its next state with change (a domain
// transition), and writes it with the event that announces its new status, if any, in one
// write conditional on the status and attempt read; when another write changed the payment
// first it reads and decides again (mongodb.Update). It returns the payment as stored after
// the write; when change fails, the payment read and change's error.
func (s *Store) UpdatePayment(ctx context.Context, id string, change func(payment.Payment) (payment.Payment, error)) (payment.Payment, error) {
	var stored payment.Payment
	next, err := mongodb.Update(ctx, attempts,
		func(ctx context.Context) (payment.Payment, error) { return s.Payment(ctx, id) },
		change,
		func(ctx context.Context, prev, next payment.Payment) error {
			var evs []events.Event
			if eventID, e := next.Event(); e != nil && next.Status != prev.Status {
				evs = append(evs, bus.WithID(eventID, e))
			}
			var d paymentDoc
			ok, err := s.w.UpdateAndGet(ctx, id,
				bson.D{{Key: "status", Value: string(prev.Status)}, {Key: "attempt", Value: prev.Attempt}},
				bson.M{"$set": bson.M{"status": string(next.Status), "attempt": next.Attempt, "stripeId": next.StripeID,
					"failure": next.Failure, "updatedAt": time.Now().UTC()}},
				&d, evs...)
			if err == nil && !ok {
				err = mongodb.ErrChanged
			}
			stored = d.payment()
			return err
		})
	if err != nil {
		return next, err
	}
	return stored, nil
}

// ClaimIntent claims, until until, the creation of attempt n's provider order for payment id,
// which is processing: it reports whether the caller has the claim (nobody had it, or it
// lapsed before now). For a provider without idempotency keys (Razorpay), so that the
// concurrent requests of every replica make one provider order.
func (s *Store) ClaimIntent(ctx context.Context, id string, n int, now, until time.Time) (bool, error) {
	res, err := s.payments.UpdateOne(ctx,
		bson.M{"_id": id, "status": string(payment.StatusProcessing), "attempt": n, "$or": bson.A{
			bson.M{"intentClaimUntil": bson.M{"$exists": false}},
			bson.M{"intentClaimUntil": bson.M{"$lt": now}},
		}},
		bson.M{"$set": bson.M{"intentClaimUntil": until}})
	if err != nil {
		return false, fmt.Errorf("claim the intent of payment %s: %w", id, err)
	}
	return res.ModifiedCount == 1, nil
}

// ReleaseIntentClaim gives up the claim that ClaimIntent took until until (the provider call
// failed), so that the next request may try at once.
func (s *Store) ReleaseIntentClaim(ctx context.Context, id string, until time.Time) error {
	_, err := s.payments.UpdateOne(ctx, bson.M{"_id": id, "intentClaimUntil": until}, bson.M{"$unset": bson.M{"intentClaimUntil": ""}})
	return err
}

// RecordDecline stores p's decline in the browser (payment.DeclineInBrowser) with its
// payment.failed (id from key), in one write conditional on p's status and attempt. It
// reports false when the payment moved on meanwhile.
func (s *Store) RecordDecline(ctx context.Context, p payment.Payment, key string) (bool, error) {
	eventID, e := p.DeclinedEvent(key)
	return s.w.Update(ctx, p.ID, bson.D{{Key: "status", Value: string(p.Status)}, {Key: "attempt", Value: p.Attempt}},
		bson.M{"$set": bson.M{"failure": p.Failure, "updatedAt": time.Now().UTC()}}, bus.WithID(eventID, e))
}

// FlagOrderCancelled marks the order's payment, if any, as belonging to a cancelled order,
// and reports whether there is one.
func (s *Store) FlagOrderCancelled(ctx context.Context, orderID string) (bool, error) {
	res, err := s.payments.UpdateOne(ctx, bson.M{"orderId": orderID}, bson.M{"$set": bson.M{"orderCancelled": true}})
	if err != nil {
		return false, err
	}
	return res.MatchedCount == 1, nil
}

// RefundsDue lists up to limit succeeded payments of cancelled orders: refunds that a
// failure left undone.
func (s *Store) RefundsDue(ctx context.Context, limit int64) ([]payment.Payment, error) {
	return mongodb.Find(ctx, s.payments, bson.D{{Key: "orderCancelled", Value: true}, {Key: "status", Value: string(payment.StatusSucceeded)}},
		"", paymentDoc.payment, options.Find().SetProjection(bson.M{bus.OutboxField: 0}).SetLimit(limit))
}

// Unsettled lists up to limit payments waiting on the processor (processing, or
// requires_payment_method: the browser may have paid) with a processor id, not written or
// looked at since before and created after since, the oldest first: those whose webhook may
// have been lost. It asks once per status: an equality on status is what every backend serves
// from the status_updatedAt index (the stand-in's PostgreSQL backend scans the collection for
// an $in).
func (s *Store) Unsettled(ctx context.Context, before, since time.Time, limit int64) ([]payment.Payment, error) {
	type dated struct {
		at time.Time
		p  payment.Payment
	}
	var all []dated
	for _, st := range []payment.Status{payment.StatusProcessing, payment.StatusRequiresPaymentMethod} {
		got, err := mongodb.Find(ctx, s.payments, bson.D{
			{Key: "status", Value: string(st)},
			{Key: "updatedAt", Value: bson.M{"$lt": before.UTC()}},
			{Key: "createdAt", Value: bson.M{"$gt": since.UTC()}},
			{Key: "stripeId", Value: bson.M{"$ne": ""}},
		}, "unsettled payments", func(d paymentDoc) dated { return dated{d.UpdatedAt, d.payment()} },
			options.Find().SetProjection(bson.M{bus.OutboxField: 0}).SetSort(bson.D{{Key: "updatedAt", Value: 1}}).SetLimit(limit))
		if err != nil {
			return nil, err
		}
		all = append(all, got...)
	}
	slices.SortStableFunc(all, func(a, b dated) int { return a.at.Compare(b.at) })
	out := make([]payment.Payment, 0, min(int64(len(all)), limit))
	for _, d := range all[:min(int64(len(all)), limit)] {
		out = append(out, d.p)
	}
	return out, nil
}

// Touch records that p was looked at and found unchanged at the processor (updatedAt now),
// if it is still in p's status and attempt, so that Unsettled lists it again only later.
func (s *Store) Touch(ctx context.Context, p payment.Payment) error {
	_, err := s.payments.UpdateOne(ctx, bson.M{"_id": p.ID, "status": string(p.Status), "attempt": p.Attempt},
		bson.M{"$set": bson.M{"updatedAt": time.Now().UTC()}})
	return err
}

// ---- webhook events ----

// WebhookSeen reports whether Stripe event id was already handled.
func (s *Store) WebhookSeen(ctx context.Context, id string) (bool, error) {
	err := s.webhooks.FindOne(ctx, bson.M{"_id": id}).Err()
	if mongodb.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// MarkWebhook records that Stripe event id was handled; it returns false when it already was.
func (s *Store) MarkWebhook(ctx context.Context, id, typ string) (bool, error) {
	_, err := s.webhooks.InsertOne(ctx, bson.M{"_id": id, "type": typ, "handledAt": time.Now().UTC()})
	if mongodb.IsDuplicate(err) {
		return false, nil
	}
	return err == nil, err
}

// Package store keeps the payments service's data in MongoDB: the replica of orders, the
// payments (one per order, with their outbox), and the Stripe webhook events already handled.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing/common/bus"
	"ticketing/common/mongodb"
	"ticketing/services/payments/internal/payment"
)

// Collection names.
const (
	OrdersCollection   = "orders"
	PaymentsCollection = "payments"
	WebhookCollection  = "webhook_events"
)

// ErrNotFound is a document that does not exist.
var ErrNotFound = errors.New("not found")

// Store is the payments database.
type Store struct {
	db       *mongo.Database
	orders   *mongo.Collection
	payments *mongo.Collection
	webhooks *mongo.Collection
}

// New uses db.
func New(db *mongo.Database) *Store {
	return &Store{
		db:       db,
		orders:   db.Collection(OrdersCollection),
		payments: db.Collection(PaymentsCollection),
		webhooks: db.Collection(WebhookCollection),
	}
}

// Payments is the collection whose outbox the relay publishes.
func (s *Store) Payments() *mongo.Collection { return s.payments }

// EnsureIndexes creates the unique index that makes a payment one per order, and the
// refund sweeper's {orderCancelled, status} (orderCancelled is set on few payments).
//
// One index per command: the stand-in (FerretDB v1.24.2) panics on a createIndexes of
// several indexes of which more than one already exists, as on every restart.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	for _, m := range []mongo.IndexModel{
		{Keys: bson.D{{Key: "orderId", Value: 1}}, Options: options.Index().SetUnique(true).SetName("orderId_unique")},
		{Keys: bson.D{{Key: "orderCancelled", Value: 1}, {Key: "status", Value: 1}}, Options: options.Index().SetName("orderCancelled_status")},
	} {
		if _, err := s.payments.Indexes().CreateOne(ctx, m); err != nil {
			return fmt.Errorf("payments index: %w", err)
		}
	}
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.db.RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err()
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
	return payment.Order{ID: d.ID, UserID: d.UserID, PriceCents: d.PriceCents, Status: payment.OrderStatus(d.Status),
		Version: d.Version, ExpiresAt: d.ExpiresAt.UTC(), TicketID: d.TicketID}
}

// Applied says what a versioned replica write did.
type Applied int

// Outcomes of a replica write.
const (
	Done      Applied = iota // stored
	Duplicate                // this version or a later one was already stored
	TooEarly                 // the previous version is not stored yet
)

// InsertOrder stores a new order; a second insert of the same order is a Duplicate.
func (s *Store) InsertOrder(ctx context.Context, o payment.Order) (Applied, error) {
	_, err := s.orders.InsertOne(ctx, orderDoc{ID: o.ID, UserID: o.UserID, PriceCents: o.PriceCents,
		Status: string(o.Status), Version: o.Version, ExpiresAt: o.ExpiresAt.UTC(), TicketID: o.TicketID})
	if mongodb.IsDuplicate(err) {
		return Duplicate, nil
	}
	if err != nil {
		return 0, err
	}
	return Done, nil
}

// SetOrderStatus applies version of an order with status, only when the stored version is
// version-1.
func (s *Store) SetOrderStatus(ctx context.Context, id string, version int64, status payment.OrderStatus) (Applied, error) {
	res, err := s.orders.UpdateOne(ctx, bson.M{"_id": id, "version": version - 1},
		bson.M{"$set": bson.M{"status": string(status), "version": version}})
	if err != nil {
		return 0, err
	}
	if res.MatchedCount == 1 {
		return Done, nil
	}
	o, err := s.Order(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return TooEarly, nil
	case err != nil:
		return 0, err
	case o.Version >= version:
		return Duplicate, nil
	default:
		return TooEarly, nil
	}
}

// Order reads an order of the replica.
func (s *Store) Order(ctx context.Context, id string) (payment.Order, error) {
	var d orderDoc
	err := s.orders.FindOne(ctx, bson.M{"_id": id}).Decode(&d)
	if mongodb.IsNotFound(err) {
		return payment.Order{}, ErrNotFound
	}
	if err != nil {
		return payment.Order{}, err
	}
	return d.order(), nil
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

// StartPayment inserts p (status processing, attempt 1). When the order already has a
// payment, it returns that one and created false: the unique index on orderId decides.
func (s *Store) StartPayment(ctx context.Context, p payment.Payment) (payment.Payment, bool, error) {
	now := time.Now().UTC()
	d := paymentDoc{ID: p.ID, OrderID: p.OrderID, UserID: p.UserID, Status: string(p.Status), Attempt: p.Attempt,
		AmountCents: p.AmountCents, Currency: p.Currency, Outbox: bus.NewOutbox(), CreatedAt: now, UpdatedAt: now}
	_, err := s.payments.InsertOne(ctx, d)
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
	var d paymentDoc
	err := s.payments.FindOne(ctx, filter, options.FindOne().SetProjection(bson.M{"outbox": 0})).Decode(&d)
	if mongodb.IsNotFound(err) {
		return payment.Payment{}, ErrNotFound
	}
	if err != nil {
		return payment.Payment{}, err
	}
	return d.payment(), nil
}

// transition updates the payment matching filter and returns it as it is after the update,
// or ok false when nothing matched.
func (s *Store) transition(ctx context.Context, filter, update bson.M) (payment.Payment, bool, error) {
	set, _ := update["$set"].(bson.M)
	if set == nil {
		set = bson.M{}
		update["$set"] = set
	}
	set["updatedAt"] = time.Now().UTC()
	var d paymentDoc
	// No projection: the stand-in does not support one on findAndModify.
	err := s.payments.FindOneAndUpdate(ctx, filter, update,
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if mongodb.IsNotFound(err) {
		return payment.Payment{}, false, nil
	}
	if err != nil {
		return payment.Payment{}, false, err
	}
	return d.payment(), true, nil
}

func statuses(ss ...payment.Status) bson.M {
	a := bson.A{}
	for _, s := range ss {
		a = append(a, string(s))
	}
	return bson.M{"$in": a}
}

// NextAttempt starts attempt n+1 of a payment whose attempt n ended in one of from.
func (s *Store) NextAttempt(ctx context.Context, id string, n int, from ...payment.Status) (payment.Payment, bool, error) {
	return s.transition(ctx, bson.M{"_id": id, "attempt": n, "status": statuses(from...)},
		bson.M{"$set": bson.M{"attempt": n + 1, "status": string(payment.StatusProcessing), "stripeId": "", "failure": ""}})
}

// Succeed records that attempt n of a payment charged PaymentIntent stripeID, and pushes env
// (payment.created) in the same write. It matches only once: a second call finds the payment
// succeeded and returns ok false.
func (s *Store) Succeed(ctx context.Context, id string, n int, stripeID string, env bus.Envelope) (payment.Payment, bool, error) {
	return s.transition(ctx,
		bson.M{"_id": id, "attempt": n, "status": statuses(payment.SucceedFrom...)},
		bus.AddOutbox(bson.M{"$set": bson.M{"status": string(payment.StatusSucceeded), "stripeId": stripeID, "failure": ""}}, env))
}

// Fail records that attempt n, still processing, was declined or refused.
func (s *Store) Fail(ctx context.Context, id string, n int, stripeID, reason string) (payment.Payment, bool, error) {
	return s.transition(ctx, bson.M{"_id": id, "attempt": n, "status": string(payment.StatusProcessing)},
		bson.M{"$set": bson.M{"status": string(payment.StatusFailed), "stripeId": stripeID, "failure": reason}})
}

// AwaitClient records that attempt n, still processing, created PaymentIntent stripeID for
// the browser to confirm.
func (s *Store) AwaitClient(ctx context.Context, id string, n int, stripeID string) (payment.Payment, bool, error) {
	return s.transition(ctx, bson.M{"_id": id, "attempt": n, "status": string(payment.StatusProcessing)},
		bson.M{"$set": bson.M{"status": string(payment.StatusRequiresPaymentMethod), "stripeId": stripeID}})
}

// Refunded records that a succeeded payment was refunded, and pushes env (payment.refunded)
// in the same write. It matches only once.
func (s *Store) Refunded(ctx context.Context, id string, env bus.Envelope) (payment.Payment, bool, error) {
	return s.transition(ctx, bson.M{"_id": id, "status": string(payment.StatusSucceeded)},
		bus.AddOutbox(bson.M{"$set": bson.M{"status": string(payment.StatusRefunded)}}, env))
}

// FlagOrderCancelled marks the order's payment, if any, as belonging to a cancelled order.
func (s *Store) FlagOrderCancelled(ctx context.Context, orderID string) error {
	_, err := s.payments.UpdateOne(ctx, bson.M{"orderId": orderID}, bson.M{"$set": bson.M{"orderCancelled": true}})
	return err
}

// RefundsDue lists up to limit succeeded payments of cancelled orders: refunds that a
// failure left undone.
func (s *Store) RefundsDue(ctx context.Context, limit int64) ([]payment.Payment, error) {
	cur, err := s.payments.Find(ctx, bson.D{{Key: "orderCancelled", Value: true}, {Key: "status", Value: string(payment.StatusSucceeded)}},
		options.Find().SetProjection(bson.M{"outbox": 0}).SetLimit(limit))
	if err != nil {
		return nil, err
	}
	var docs []paymentDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make([]payment.Payment, len(docs))
	for i, d := range docs {
		out[i] = d.payment()
	}
	return out, nil
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

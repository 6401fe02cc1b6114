// Package events defines every event on the bus: its subject, payload, schema number and the
// stream that carries it, and the streams and durable consumers themselves.
//
// Payloads are the JSON bodies of docs/API.md. Metadata (event id, type, schema, trace) travels in
// headers, set by the bus package.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Subjects, one per event, named <aggregate>.<past-verb>.
const (
	SubjectTicketCreated       = "ticket.created"
	SubjectTicketUpdated       = "ticket.updated"
	SubjectTicketRefused       = "ticket.refused"
	SubjectOrderCreated        = "order.created"
	SubjectOrderCancelled      = "order.cancelled"
	SubjectOrderCompleted      = "order.completed"
	SubjectOrderUpdated        = "order.updated"
	SubjectExpirationCompleted = "expiration.completed"
	SubjectPaymentCreated      = "payment.created"
	SubjectPaymentRefunded     = "payment.refunded"
	SubjectPaymentStarted      = "payment.started"
	SubjectPaymentFailed       = "payment.failed"
	SubjectEventCreated        = "event.created"
	SubjectSessionRevoked      = "session.revoked"
)

// Event is a payload that knows its subject and schema number, and checks its own fields.
type Event interface {
	Subject() string
	Schema() int
	Validate() error
}

// TicketCreated is published by tickets when a ticket is listed. EventID names the event
// (on-sale) the ticket belongs to; it is absent for a ticket of no event.
type TicketCreated struct {
	ID         string `json:"id"`
	Version    int64  `json:"version"`
	Title      string `json:"title"`
	PriceCents int64  `json:"priceCents"`
	UserID     string `json:"userId"`
	EventID    string `json:"eventId,omitempty"`
}

// EventCreated is published by tickets when a seller creates an event: an on-sale of
// TicketCount tickets (each announced by its own ticket.created with eventId) that opens at
// OnSaleAt, lets each user hold at most MaxPerUser live orders, and admits AdmitPerMinute
// buyers a minute from its waiting room.
type EventCreated struct {
	ID             string    `json:"id"`
	Version        int64     `json:"version"`
	Title          string    `json:"title"`
	UserID         string    `json:"userId"`
	OnSaleAt       time.Time `json:"onSaleAt"`
	TicketCount    int       `json:"ticketCount"`
	MaxPerUser     int       `json:"maxPerUser"`
	AdmitPerMinute int       `json:"admitPerMinute"`
}

// TicketUpdated is published by tickets when its owner edits a ticket. Reservations, releases
// and sales make new versions that are not announced, so a reader keeps the newest version it
// saw rather than waiting for each one. OrderID is null (only a free ticket can be edited); it
// stays in the schema for the readers of schema 1.
type TicketUpdated struct {
	ID         string  `json:"id"`
	Version    int64   `json:"version"`
	Title      string  `json:"title"`
	PriceCents int64   `json:"priceCents"`
	UserID     string  `json:"userId"`
	OrderID    *string `json:"orderId"`
}

// TicketRefused is published by tickets when it refuses to reserve a ticket for an order
// (order.created) because the ticket was edited after the orders service's replica saw it:
// the order's price and title are not the ticket's any more. Version is the ticket's edit
// that the order did not see; Reason is "ticket-changed". The orders service cancels the
// order.
type TicketRefused struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
	OrderID string `json:"orderId"`
	Reason  string `json:"reason"`
}

// RefusedTicketChanged is the Reason of a ticket.refused for a ticket edited after the
// order saw it.
const RefusedTicketChanged = "ticket-changed"

// TicketRef names a ticket inside an order event, with the event it belongs to, if any (so
// that the waiting room follows an event's availability). In order.created, PriceCents is
// the price the order charges and Version the ticket's version (its last edit) that the
// order saw; absent from the publishers of before it, when nothing is checked.
type TicketRef struct {
	ID         string `json:"id"`
	PriceCents int64  `json:"priceCents,omitempty"`
	Version    *int64 `json:"version,omitempty"`
	EventID    string `json:"eventId,omitempty"`
}

// OrderStatus is where an order is in its life: the status field of order.created and of the
// orders API. The statuses are declared here, once, for every service.
type OrderStatus string

// The order statuses of API.md. Created and AwaitingPayment are live (the order holds its
// ticket); Cancelled and Complete are final. An order is AwaitingPayment while a payment for
// it is in flight (between payment.started and payment.created or payment.failed).
const (
	OrderStatusCreated         OrderStatus = "created"
	OrderStatusAwaitingPayment OrderStatus = "awaiting:payment"
	OrderStatusCancelled       OrderStatus = "cancelled"
	OrderStatusComplete        OrderStatus = "complete"
)

// OrderStatuses lists every status, in life order.
var OrderStatuses = []OrderStatus{OrderStatusCreated, OrderStatusAwaitingPayment, OrderStatusCancelled, OrderStatusComplete}

// Live reports whether an order in status s holds its ticket and may still change.
func (s OrderStatus) Live() bool { return s == OrderStatusCreated || s == OrderStatusAwaitingPayment }

// Valid reports whether s is one of the statuses.
func (s OrderStatus) Valid() bool {
	switch s {
	case OrderStatusCreated, OrderStatusAwaitingPayment, OrderStatusCancelled, OrderStatusComplete:
		return true
	}
	return false
}

// OrderCreated is published by orders when a ticket is reserved.
type OrderCreated struct {
	ID        string      `json:"id"`
	Version   int64       `json:"version"`
	Status    OrderStatus `json:"status"`
	UserID    string      `json:"userId"`
	ExpiresAt time.Time   `json:"expiresAt"`
	Ticket    TicketRef   `json:"ticket"`
}

// OrderCancelled is published by orders when an order is cancelled or expires.
type OrderCancelled struct {
	ID      string    `json:"id"`
	Version int64     `json:"version"`
	Ticket  TicketRef `json:"ticket"`
}

// OrderCompleted is published by orders when an order is paid.
type OrderCompleted struct {
	ID      string    `json:"id"`
	Version int64     `json:"version"`
	Ticket  TicketRef `json:"ticket"`
}

// OrderUpdated is published by orders when a live order changes status or deadline without
// ending: it moves to awaiting:payment with its hold extended (payment.started), or back to
// created with its original deadline (payment.failed). Cause is the history cause of the
// change (payment-started, payment-failed).
type OrderUpdated struct {
	ID        string      `json:"id"`
	Version   int64       `json:"version"`
	Status    OrderStatus `json:"status"`
	ExpiresAt time.Time   `json:"expiresAt"`
	Cause     string      `json:"cause"`
	Ticket    TicketRef   `json:"ticket"`
}

// ExpirationCompleted is published by expiration when an order's reservation window ends.
// ExpiresAt is the deadline the expiry was scheduled for (absent from the publishers of
// before payment.started): an expiry for a deadline the order no longer has is stale.
type ExpirationCompleted struct {
	OrderID   string     `json:"orderId"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// PaymentCreated is published by payments when an order's charge succeeded.
type PaymentCreated struct {
	ID       string `json:"id"`
	OrderID  string `json:"orderId"`
	StripeID string `json:"stripeId"`
}

// PaymentRefunded is published by payments when a charge was refunded.
type PaymentRefunded struct {
	ID       string `json:"id"`
	OrderID  string `json:"orderId"`
	StripeID string `json:"stripeId"`
	Reason   string `json:"reason"`
}

// PaymentStarted is published by payments when an attempt to pay an order starts (a
// PaymentIntent or a charge is about to be made): orders holds the order for the payment.
type PaymentStarted struct {
	ID      string `json:"id"`
	OrderID string `json:"orderId"`
	Attempt int    `json:"attempt"`
}

// PaymentFailed is published by payments when an attempt was declined or refused: orders
// returns the order to created.
type PaymentFailed struct {
	ID      string `json:"id"`
	OrderID string `json:"orderId"`
	Attempt int    `json:"attempt"`
	Reason  string `json:"reason"`
}

// SessionRevoked is published by auth when sessions end before their tokens expire: a
// sign-out revokes one token (TokenID), a password change every token of the user issued
// before IssuedBefore. Every replica of every service keeps it, and refuses the tokens it
// names, until ExpiresAt: the revoked token's exp, or the last exp a token issued before
// IssuedBefore can have.
type SessionRevoked struct {
	UserID       string     `json:"userId"`
	TokenID      string     `json:"tokenId,omitempty"`
	IssuedBefore *time.Time `json:"issuedBefore,omitempty"`
	ExpiresAt    time.Time  `json:"expiresAt"`
}

func (TicketCreated) Subject() string       { return SubjectTicketCreated }
func (TicketUpdated) Subject() string       { return SubjectTicketUpdated }
func (TicketRefused) Subject() string       { return SubjectTicketRefused }
func (OrderCreated) Subject() string        { return SubjectOrderCreated }
func (OrderCancelled) Subject() string      { return SubjectOrderCancelled }
func (OrderCompleted) Subject() string      { return SubjectOrderCompleted }
func (ExpirationCompleted) Subject() string { return SubjectExpirationCompleted }
func (PaymentCreated) Subject() string      { return SubjectPaymentCreated }
func (PaymentRefunded) Subject() string     { return SubjectPaymentRefunded }
func (OrderUpdated) Subject() string        { return SubjectOrderUpdated }
func (PaymentStarted) Subject() string      { return SubjectPaymentStarted }
func (PaymentFailed) Subject() string       { return SubjectPaymentFailed }
func (EventCreated) Subject() string        { return SubjectEventCreated }
func (SessionRevoked) Subject() string      { return SubjectSessionRevoked }

// Schema numbers: a change that breaks readers takes the next number.
func (TicketCreated) Schema() int       { return 1 }
func (TicketUpdated) Schema() int       { return 1 }
func (TicketRefused) Schema() int       { return 1 }
func (OrderCreated) Schema() int        { return 1 }
func (OrderCancelled) Schema() int      { return 1 }
func (OrderCompleted) Schema() int      { return 1 }
func (ExpirationCompleted) Schema() int { return 1 }
func (PaymentCreated) Schema() int      { return 1 }
func (PaymentRefunded) Schema() int     { return 1 }
func (OrderUpdated) Schema() int        { return 1 }
func (PaymentStarted) Schema() int      { return 1 }
func (PaymentFailed) Schema() int       { return 1 }
func (EventCreated) Schema() int        { return 1 }
func (SessionRevoked) Schema() int      { return 1 }

// ErrInvalid marks a payload that decoded but breaks its rules.
var ErrInvalid = errors.New("invalid event")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func checkTicket(id string, version int64, title string, price int64, user string) error {
	switch {
	case id == "":
		return invalid("id is empty")
	case version < 0:
		return invalid("version %d is negative", version)
	case title == "":
		return invalid("title is empty")
	case price <= 0:
		return invalid("priceCents %d is not positive", price)
	case user == "":
		return invalid("userId is empty")
	}
	return nil
}

func (e TicketCreated) Validate() error {
	return checkTicket(e.ID, e.Version, e.Title, e.PriceCents, e.UserID)
}

func (e TicketUpdated) Validate() error {
	if err := checkTicket(e.ID, e.Version, e.Title, e.PriceCents, e.UserID); err != nil {
		return err
	}
	if e.OrderID != nil && *e.OrderID == "" {
		return invalid("orderId is empty")
	}
	return nil
}

func (e TicketRefused) Validate() error {
	switch {
	case e.ID == "":
		return invalid("id is empty")
	case e.Version < 0:
		return invalid("version %d is negative", e.Version)
	case e.OrderID == "":
		return invalid("orderId is empty")
	}
	return nil
}

func checkOrder(id string, version int64, ticket string) error {
	switch {
	case id == "":
		return invalid("id is empty")
	case version < 0:
		return invalid("version %d is negative", version)
	case ticket == "":
		return invalid("ticket.id is empty")
	}
	return nil
}

func (e OrderCreated) Validate() error {
	if err := checkOrder(e.ID, e.Version, e.Ticket.ID); err != nil {
		return err
	}
	switch {
	case e.UserID == "":
		return invalid("userId is empty")
	case e.ExpiresAt.IsZero():
		return invalid("expiresAt is missing")
	case e.Ticket.PriceCents <= 0:
		return invalid("ticket.priceCents %d is not positive", e.Ticket.PriceCents)
	case e.Ticket.Version != nil && *e.Ticket.Version < 0:
		return invalid("ticket.version %d is negative", *e.Ticket.Version)
	}
	return nil
}

func (e OrderCancelled) Validate() error { return checkOrder(e.ID, e.Version, e.Ticket.ID) }
func (e OrderCompleted) Validate() error { return checkOrder(e.ID, e.Version, e.Ticket.ID) }

func (e OrderUpdated) Validate() error {
	if err := checkOrder(e.ID, e.Version, e.Ticket.ID); err != nil {
		return err
	}
	switch {
	case !e.Status.Live():
		return invalid("status %q is not a live status", e.Status)
	case e.ExpiresAt.IsZero():
		return invalid("expiresAt is missing")
	}
	return nil
}

func (e PaymentStarted) Validate() error {
	if e.ID == "" || e.OrderID == "" || e.Attempt < 1 {
		return invalid("id and orderId are required, attempt from 1")
	}
	return nil
}

func (e PaymentFailed) Validate() error {
	if e.ID == "" || e.OrderID == "" || e.Attempt < 1 {
		return invalid("id and orderId are required, attempt from 1")
	}
	return nil
}

func (e ExpirationCompleted) Validate() error {
	if e.OrderID == "" {
		return invalid("orderId is empty")
	}
	return nil
}

func (e PaymentCreated) Validate() error {
	if e.ID == "" || e.OrderID == "" || e.StripeID == "" {
		return invalid("id, orderId and stripeId are required")
	}
	return nil
}

func (e PaymentRefunded) Validate() error {
	if e.ID == "" || e.OrderID == "" || e.StripeID == "" {
		return invalid("id, orderId and stripeId are required")
	}
	return nil
}

func (e EventCreated) Validate() error {
	switch {
	case e.ID == "":
		return invalid("id is empty")
	case e.Version < 0:
		return invalid("version %d is negative", e.Version)
	case e.Title == "":
		return invalid("title is empty")
	case e.UserID == "":
		return invalid("userId is empty")
	case e.OnSaleAt.IsZero():
		return invalid("onSaleAt is missing")
	case e.TicketCount < 1:
		return invalid("ticketCount %d is not positive", e.TicketCount)
	case e.MaxPerUser < 1:
		return invalid("maxPerUser %d is not positive", e.MaxPerUser)
	case e.AdmitPerMinute < 1:
		return invalid("admitPerMinute %d is not positive", e.AdmitPerMinute)
	}
	return nil
}

func (e SessionRevoked) Validate() error {
	switch {
	case e.UserID == "":
		return invalid("userId is empty")
	case e.ExpiresAt.IsZero():
		return invalid("expiresAt is missing")
	case (e.TokenID == "") == (e.IssuedBefore == nil || e.IssuedBefore.IsZero()):
		return invalid("exactly one of tokenId and issuedBefore is required")
	}
	return nil
}

// Decode parses and validates a payload of type E. Unknown fields are allowed, so a reader
// keeps working when a writer adds a field without a new schema number.
func Decode[E Event](data []byte) (E, error) {
	var e E
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return e, e.Validate()
}

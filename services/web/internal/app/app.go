// Package app is the storefront's application: typed calls to the public REST API, made on
// behalf of one visitor (their session cookie forwarded), with the API's errors kept as they
// were answered so that pages can show them next to their fields.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"ticketing/common/apiclient"
)

// SessionCookie is the auth service's cookie, the visitor's session.
const SessionCookie = apiclient.SessionCookie

// QueuePassCookie is the waiting room's cookie, the visitor's pass to an event's sale.
const QueuePassCookie = apiclient.QueuePassCookie

// Visitor is who a call is made for: their session cookie (empty when signed out), their
// queue pass cookie (when the waiting room gave them one), and what identifies their request.
// Both cookies travel with every call, as the browser would send them to the API.
type Visitor struct {
	Session      string
	QueuePass    string
	RequestID    string
	ForwardedFor string
}

func (v Visitor) auth() apiclient.Auth {
	return apiclient.Auth{Session: v.Session, QueuePass: v.QueuePass, RequestID: v.RequestID, ForwardedFor: v.ForwardedFor}
}

// The API's views, as the platform's API client reads them.
type (
	// User is the signed-in visitor.
	User = apiclient.User
	// Ticket is a ticket as the API shows it.
	Ticket = apiclient.Ticket
	// Event is an on-sale as the API shows it.
	Event = apiclient.Event
	// Place is the visitor's place in an event's waiting room.
	Place = apiclient.Place
	// Order is an order as the API shows it.
	Order = apiclient.Order
	// Payment is a payment as the API shows it.
	Payment = apiclient.Payment
	// PaymentConfig says which payment flow to offer.
	PaymentConfig = apiclient.PaymentConfig
	// FieldError is one item of the API's error shape.
	FieldError = apiclient.FieldError
	// Error is an answer of the API other than a success: its status and its errors. A
	// fault of the API (5xx) or of the network has Status 502 and a message that shows no
	// internals.
	Error = apiclient.Error
	// Credentials are what sign-up and sign-in send.
	Credentials = apiclient.Credentials
	// RazorpayCheckout is what Razorpay Checkout hands the browser after a payment.
	RazorpayCheckout = apiclient.RazorpayCheckout
)

// Order statuses.
const (
	OrderCreated  = apiclient.OrderCreated
	OrderAwaiting = apiclient.OrderAwaiting
	OrderCanceled = apiclient.OrderCancelled
	OrderComplete = apiclient.OrderComplete
)

// Statuses of a place in a waiting room.
const (
	QueueWaiting  = apiclient.PlaceWaiting
	QueueAdmitted = apiclient.PlaceAdmitted
	QueueClosed   = apiclient.PlaceClosed
)

// Payment providers.
const (
	ProviderStripe   = apiclient.ProviderStripe
	ProviderOffline  = apiclient.ProviderOffline
	ProviderRazorpay = apiclient.ProviderRazorpay
)

// Unavailable is the message shown for a fault of the API: no internals.
const Unavailable = "The service is unavailable at the moment. Please try again shortly."

// StatusOf is the API status of err: Error's, or 502 for anything else.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return http.StatusBadGateway
}

// AsError is err as an *Error (a fault of the network becomes a 502 Unavailable).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusBadGateway, Errors: []FieldError{{Message: Unavailable}}}
}

// Client calls the REST API.
type Client struct {
	api *apiclient.Client

	mu       sync.Mutex
	payCfg   PaymentConfig
	payCfgAt time.Time
}

// NewClient is a client of the API at base (the gateway or ingress), each call bounded by
// timeout. Redirects are the API's to answer, not the storefront's to follow.
func NewClient(base string, timeout time.Duration) *Client {
	return &Client{api: apiclient.New(base, apiclient.Options{Timeout: timeout, MaxConns: 64})}
}

// Reply is what a call returns beyond its body: the cookies the API set (sign-in, sign-up
// and sign-out pass them on to the browser, as the waiting room's calls pass the queue pass).
type Reply struct {
	SetCookies []string
}

// call sends method path with body (JSON) for v and decodes a 2xx answer into out.
func (c *Client) call(ctx context.Context, v Visitor, method, path string, body, out any) (Reply, error) {
	resp := c.api.Send(ctx, apiclient.Request{Method: method, Path: path, Auth: v.auth(), Body: body})
	if resp.Err != nil {
		return Reply{}, resp.Err
	}
	reply := Reply{SetCookies: resp.Header.Values("Set-Cookie")}
	if resp.Status >= 500 {
		return reply, &Error{Status: http.StatusBadGateway, Errors: []FieldError{{Message: Unavailable}}}
	}
	if resp.Status >= 300 {
		return reply, resp.Check()
	}
	if out != nil && len(resp.Body) > 0 {
		if err := resp.Decode(out); err != nil {
			return reply, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return reply, nil
}

// CurrentUser is the signed-in visitor, or nil.
func (c *Client) CurrentUser(ctx context.Context, v Visitor) (*User, error) {
	if v.Session == "" {
		return nil, nil
	}
	var out struct {
		CurrentUser *User `json:"currentUser"`
	}
	_, err := c.call(ctx, v, http.MethodGet, "/api/users/currentuser", nil, &out)
	return out.CurrentUser, err
}

// SignUp creates an account; the reply carries the session cookie.
func (c *Client) SignUp(ctx context.Context, v Visitor, cr Credentials) (Reply, error) {
	return c.call(ctx, v, http.MethodPost, "/api/users/signup", cr, nil)
}

// SignIn signs in; the reply carries the session cookie.
func (c *Client) SignIn(ctx context.Context, v Visitor, cr Credentials) (Reply, error) {
	return c.call(ctx, v, http.MethodPost, "/api/users/signin", cr, nil)
}

// SignOut signs out; the reply clears the session cookie.
func (c *Client) SignOut(ctx context.Context, v Visitor) (Reply, error) {
	return c.call(ctx, v, http.MethodPost, "/api/users/signout", nil, nil)
}

// Tickets is a page of tickets for sale, newest first, after the ticket id after.
func (c *Client) Tickets(ctx context.Context, v Visitor, limit int, after string) ([]Ticket, error) {
	return c.EventTickets(ctx, v, "", limit, after)
}

// EventTickets is a page of the free tickets of event eventID (of every event and none when
// eventID is ""), newest first, after the ticket id after.
func (c *Client) EventTickets(ctx context.Context, v Visitor, eventID string, limit int, after string) ([]Ticket, error) {
	var out []Ticket
	_, err := c.call(ctx, v, http.MethodGet, "/api/tickets?"+page(limit, after, "eventId", eventID), nil, &out)
	return out, err
}

// page is the query of a page of limit items after the id after, with key=value when value
// is not "".
func page(limit int, after, key, value string) string {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	if value != "" {
		q.Set(key, value)
	}
	return q.Encode()
}

// Events is a page of events, soonest on-sale first, after the event id after.
func (c *Client) Events(ctx context.Context, v Visitor, limit int, after string) ([]Event, error) {
	var out []Event
	_, err := c.call(ctx, v, http.MethodGet, "/api/events?"+page(limit, after, "", ""), nil, &out)
	return out, err
}

// Event is one event, with how many of its tickets are free.
func (c *Client) Event(ctx context.Context, v Visitor, id string) (Event, error) {
	var out Event
	_, err := c.call(ctx, v, http.MethodGet, "/api/events/"+url.PathEscape(id), nil, &out)
	return out, err
}

// JoinQueue puts the visitor in event eventID's waiting room (again: the same place). The
// reply carries the pass cookie when they are admitted.
func (c *Client) JoinQueue(ctx context.Context, v Visitor, eventID string) (Place, Reply, error) {
	var out Place
	reply, err := c.call(ctx, v, http.MethodPost, "/api/queue/"+url.PathEscape(eventID), nil, &out)
	return out, reply, err
}

// QueuePlace is the visitor's place in event eventID's waiting room (404 when they are not
// in it). The reply carries the pass cookie when they are admitted.
func (c *Client) QueuePlace(ctx context.Context, v Visitor, eventID string) (Place, Reply, error) {
	var out Place
	reply, err := c.call(ctx, v, http.MethodGet, "/api/queue/"+url.PathEscape(eventID), nil, &out)
	return out, reply, err
}

// Ticket is one ticket.
func (c *Client) Ticket(ctx context.Context, v Visitor, id string) (Ticket, error) {
	var out Ticket
	_, err := c.call(ctx, v, http.MethodGet, "/api/tickets/"+url.PathEscape(id), nil, &out)
	return out, err
}

// TicketInput is what selling and editing send. Price is the visitor's text: a JSON number
// when it reads as one, else the text itself, so that the API words the refusal.
type TicketInput struct {
	Title string
	Price string
}

// MarshalJSON writes {title, price}.
func (in TicketInput) MarshalJSON() ([]byte, error) {
	var price any = in.Price
	if p := strings.TrimSpace(in.Price); decimal(p) {
		price = json.Number(p)
	}
	return json.Marshal(map[string]any{"title": in.Title, "price": price})
}

// decimal says whether s is a plain decimal number, a valid JSON number.
func decimal(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	s = strings.TrimPrefix(s, "-")
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") || (len(whole) > 1 && whole[0] == '0') {
		return false
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// CreateTicket lists a ticket for sale.
func (c *Client) CreateTicket(ctx context.Context, v Visitor, in TicketInput) (Ticket, error) {
	var out Ticket
	_, err := c.call(ctx, v, http.MethodPost, "/api/tickets", in, &out)
	return out, err
}

// UpdateTicket edits a ticket.
func (c *Client) UpdateTicket(ctx context.Context, v Visitor, id string, in TicketInput) (Ticket, error) {
	var out Ticket
	_, err := c.call(ctx, v, http.MethodPut, "/api/tickets/"+url.PathEscape(id), in, &out)
	return out, err
}

// CreateOrder holds a ticket.
func (c *Client) CreateOrder(ctx context.Context, v Visitor, ticketID string) (Order, error) {
	var out Order
	_, err := c.call(ctx, v, http.MethodPost, "/api/orders", map[string]string{"ticketId": ticketID}, &out)
	return out, err
}

// Orders is the visitor's orders, newest first.
func (c *Client) Orders(ctx context.Context, v Visitor) ([]Order, error) {
	var out []Order
	_, err := c.call(ctx, v, http.MethodGet, "/api/orders", nil, &out)
	return out, err
}

// Order is one of the visitor's orders.
func (c *Client) Order(ctx context.Context, v Visitor, id string) (Order, error) {
	var out Order
	_, err := c.call(ctx, v, http.MethodGet, "/api/orders/"+url.PathEscape(id), nil, &out)
	return out, err
}

// CancelOrder cancels an order, releasing its ticket.
func (c *Client) CancelOrder(ctx context.Context, v Visitor, id string) error {
	_, err := c.call(ctx, v, http.MethodDelete, "/api/orders/"+url.PathEscape(id), nil, nil)
	return err
}

// Pay charges an order with a Stripe test token (offline provider), or, with token "",
// prepares the PaymentIntent that Stripe.js confirms in the browser.
func (c *Client) Pay(ctx context.Context, v Visitor, orderID, token string) (Payment, error) {
	body := map[string]string{"orderId": orderID}
	if token != "" {
		body["token"] = token
	}
	var out Payment
	_, err := c.call(ctx, v, http.MethodPost, "/api/payments", body, &out)
	return out, err
}

// VerifyRazorpay has the API verify and record the payment Checkout made.
func (c *Client) VerifyRazorpay(ctx context.Context, v Visitor, in RazorpayCheckout) (Payment, error) {
	var out Payment
	_, err := c.call(ctx, v, http.MethodPost, "/api/payments/razorpay/verify", in, &out)
	return out, err
}

// PaymentConfig is the API's payment flow, cached for a minute.
func (c *Client) PaymentConfig(ctx context.Context) (PaymentConfig, error) {
	c.mu.Lock()
	cfg, at := c.payCfg, c.payCfgAt
	c.mu.Unlock()
	if !at.IsZero() && time.Since(at) < time.Minute {
		return cfg, nil
	}
	if _, err := c.call(ctx, Visitor{}, http.MethodGet, "/api/payments/config", nil, &cfg); err != nil {
		return PaymentConfig{}, err
	}
	c.mu.Lock()
	c.payCfg, c.payCfgAt = cfg, time.Now()
	c.mu.Unlock()
	return cfg, nil
}

// Package app is the storefront's application: typed calls to the public REST API, made on
// behalf of one visitor (their session cookie forwarded), with the API's errors kept as they
// were answered so that pages can show them next to their fields.
package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SessionCookie is the auth service's cookie, the visitor's session.
const SessionCookie = "session"

// Visitor is who a call is made for: their session cookie (empty when signed out) and what
// identifies their request.
type Visitor struct {
	Session      string
	RequestID    string
	ForwardedFor string
}

// User is the signed-in visitor.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

// Ticket is a ticket as the API shows it.
type Ticket struct {
	ID      string      `json:"id"`
	Title   string      `json:"title"`
	Price   json.Number `json:"price"`
	UserID  string      `json:"userId"`
	Version int64       `json:"version"`
	OrderID string      `json:"orderId"`
	Status  string      `json:"status"`
}

// Order statuses.
const (
	OrderCreated  = "created"
	OrderAwaiting = "awaiting:payment"
	OrderCanceled = "cancelled"
	OrderComplete = "complete"
)

// Order is an order as the API shows it.
type Order struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expiresAt"`
	Version   int64     `json:"version"`
	Ticket    struct {
		ID    string      `json:"id"`
		Title string      `json:"title"`
		Price json.Number `json:"price"`
	} `json:"ticket"`
}

// Open says whether the order still holds its ticket and can be paid or cancelled.
func (o Order) Open() bool { return o.Status == OrderCreated || o.Status == OrderAwaiting }

// Payment is a payment as the API shows it.
type Payment struct {
	ID           string `json:"id"`
	OrderID      string `json:"orderId"`
	StripeID     string `json:"stripeId"`
	Status       string `json:"status"`
	ClientSecret string `json:"clientSecret"`
}

// PaymentConfig says which payment flow to offer.
type PaymentConfig struct {
	Provider       string `json:"provider"`
	PublishableKey string `json:"publishableKey"`
	Currency       string `json:"currency"`
}

// Payment providers.
const (
	ProviderStripe  = "stripe"
	ProviderOffline = "offline"
)

// FieldError is one item of the API's error shape.
type FieldError struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Error is an answer of the API other than a success: its status and its errors. A fault
// of the API (5xx) or of the network has Status 502 and a message that shows no internals.
type Error struct {
	Status int
	Errors []FieldError
}

func (e *Error) Error() string {
	msgs := make([]string, 0, len(e.Errors))
	for _, fe := range e.Errors {
		msgs = append(msgs, fe.Message)
	}
	return fmt.Sprintf("API %d: %s", e.Status, strings.Join(msgs, "; "))
}

// Field is the message about field, or "".
func (e *Error) Field(field string) string {
	for _, fe := range e.Errors {
		if fe.Field == field {
			return fe.Message
		}
	}
	return ""
}

// General is the messages that name no field in fields, joined.
func (e *Error) General(fields ...string) string {
	var out []string
	for _, fe := range e.Errors {
		known := false
		for _, f := range fields {
			known = known || fe.Field == f
		}
		if !known {
			out = append(out, fe.Message)
		}
	}
	return strings.Join(out, " ")
}

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
	base string
	http *http.Client

	mu       sync.Mutex
	payCfg   PaymentConfig
	payCfgAt time.Time
}

// NewClient is a client of the API at base (the gateway or ingress), each call bounded by
// timeout.
func NewClient(base string, timeout time.Duration) *Client {
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
		// Redirects are the API's to answer, not the storefront's to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Reply is what a call returns beyond its body: the cookies the API set (sign-in, sign-up
// and sign-out pass them on to the browser).
type Reply struct {
	SetCookies []string
}

// call sends method path with body (JSON) for v and decodes a 2xx answer into out.
func (c *Client) call(ctx context.Context, v Visitor, method, path string, body, out any) (Reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Reply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return Reply{}, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil || method != http.MethodGet {
		// Every call that changes state says JSON, with or without a body: the API accepts a
		// session cookie on such a request only then (its defence against cross-site forgery).
		req.Header.Set("Content-Type", "application/json")
	}
	if v.Session != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: v.Session})
	}
	if v.RequestID != "" {
		req.Header.Set("X-Request-Id", v.RequestID)
	}
	if v.ForwardedFor != "" {
		req.Header.Set("X-Forwarded-For", v.ForwardedFor)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	reply := Reply{SetCookies: resp.Header.Values("Set-Cookie")}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return reply, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 500 {
		return reply, &Error{Status: http.StatusBadGateway, Errors: []FieldError{{Message: Unavailable}}}
	}
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode}
		var shape struct {
			Errors []FieldError `json:"errors"`
		}
		if json.Unmarshal(data, &shape) == nil {
			e.Errors = shape.Errors
		}
		if len(e.Errors) == 0 {
			e.Errors = []FieldError{{Message: http.StatusText(resp.StatusCode)}}
		}
		return reply, e
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return reply, fmt.Errorf("%s %s: decode: %w", method, path, err)
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

// Credentials are what sign-up and sign-in send.
type Credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
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
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	var out []Ticket
	_, err := c.call(ctx, v, http.MethodGet, "/api/tickets?"+q.Encode(), nil, &out)
	return out, err
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

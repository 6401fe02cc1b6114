// Package apiclient is the typed client of the public REST API (docs/API.md): one set of view
// types (User, Ticket, Order, Payment, the error shape) and one call per route, over one HTTP
// exchange type. The storefront calls the API with it on behalf of its visitors; the load
// bench, the dev stack's end-to-end test and the services' component tests (through
// common/testkit) use the same client, so that a change of the API shows in one place.
//
// A call names who it is made for with Auth: a bearer token (API clients, tests) or the
// session cookie (the storefront, forwarding its visitor's). Typed calls return the view, the
// exchange (status, headers, body, timing) and an error: *Error for an answer that is not a
// success, the transport's error otherwise.
package apiclient

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
	"time"
)

// SessionCookie is the auth service's cookie, a browser's session.
const SessionCookie = "session"

// QueuePassCookie is the waiting room's cookie, the pass of a buyer admitted to an event's
// sale (the orders service reads it as it reads the Queue-Pass header).
const QueuePassCookie = "queue_pass"

// Order statuses.
const (
	OrderCreated   = "created"
	OrderAwaiting  = "awaiting:payment"
	OrderCancelled = "cancelled"
	OrderComplete  = "complete"
)

// Payment providers.
const (
	ProviderStripe   = "stripe"
	ProviderOffline  = "offline"
	ProviderRazorpay = "razorpay"
)

// Session is a session answer (sign-up, sign-in): the user's id, the normalised email and
// the session token.
type Session struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Token string `json:"token"`
}

// User is the signed-in user as GET /api/users/currentuser shows it.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	IAT   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

// Credentials are what sign-up and sign-in send.
type Credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Price is a price as the API wrote it, a decimal number of the major unit: String keeps the
// text (20.5 stays "20.5"), Float is its value.
type Price string

// UnmarshalJSON takes a JSON number as it is written (null leaves p as it is).
func (p *Price) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	if _, err := n.Float64(); err != nil {
		return fmt.Errorf("price %s: %w", b, err)
	}
	*p = Price(n)
	return nil
}

// MarshalJSON writes the number as it was read (0 when empty).
func (p Price) MarshalJSON() ([]byte, error) {
	if p == "" {
		return []byte("0"), nil
	}
	return []byte(p), nil
}

func (p Price) String() string { return string(p) }

// Float is the price's value (0 when it is not a number).
func (p Price) Float() float64 {
	f, _ := json.Number(p).Float64()
	return f
}

// Ticket is a ticket as the API shows it.
type Ticket struct {
	ID      string  `json:"id"`
	Title   string  `json:"title"`
	Price   Price   `json:"price"`
	UserID  string  `json:"userId"`
	Version int64   `json:"version"`
	OrderID *string `json:"orderId"`
	Status  string  `json:"status"`
	// EventID names the event the ticket was listed for ("" for a ticket of no event).
	EventID string `json:"eventId,omitempty"`
}

// Event is an on-sale as the API shows it: TicketCount tickets at Price that open at
// OnSaleAt; Available is how many of them no order holds.
type Event struct {
	ID             string    `json:"id"`
	Title          string    `json:"title"`
	UserID         string    `json:"userId"`
	OnSaleAt       time.Time `json:"onSaleAt"`
	TicketCount    int       `json:"ticketCount"`
	Price          Price     `json:"price"`
	Available      int       `json:"available"`
	MaxPerUser     int       `json:"maxPerUser"`
	AdmitPerMinute int       `json:"admitPerMinute"`
	Version        int64     `json:"version"`
}

// NewEvent is the input of POST /api/events; zero MaxPerUser and AdmitPerMinute leave the
// API's defaults.
type NewEvent struct {
	Title          string        `json:"title"`
	OnSaleAt       time.Time     `json:"onSaleAt"`
	Tickets        NewEventBatch `json:"tickets"`
	MaxPerUser     int           `json:"maxPerUser,omitempty"`
	AdmitPerMinute int           `json:"admitPerMinute,omitempty"`
}

// NewEventBatch is the tickets an event creates: count of them at price.
type NewEventBatch struct {
	Count int     `json:"count"`
	Price float64 `json:"price"`
}

// Place statuses of the waiting room.
const (
	PlaceWaiting  = "waiting"
	PlaceAdmitted = "admitted"
	PlaceClosed   = "closed"
)

// Place is a buyer's place in an event's waiting room. Position and Ahead are nil before the
// sale opens and once admitted; Pass and PassExpiresAt are set once admitted.
type Place struct {
	EventID              string     `json:"eventId"`
	Status               string     `json:"status"`
	Position             *int64     `json:"position"`
	Ahead                *int64     `json:"ahead"`
	EstimatedWaitSeconds int64      `json:"estimatedWaitSeconds"`
	Pass                 string     `json:"pass"`
	PassExpiresAt        *time.Time `json:"passExpiresAt"`
}

// OrderTicket is the ticket an order holds, as the order shows it.
type OrderTicket struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Price   Price  `json:"price"`
	Version int64  `json:"version"`
}

// Order is an order as the API shows it.
type Order struct {
	ID        string      `json:"id"`
	UserID    string      `json:"userId"`
	Status    string      `json:"status"`
	ExpiresAt time.Time   `json:"expiresAt"`
	Version   int64       `json:"version"`
	Ticket    OrderTicket `json:"ticket"`
	// History is the order's status changes, oldest first, each with what caused it.
	History []OrderChange `json:"history"`
}

// OrderChange is one step of an order's history: the status it moved to, when, and why.
type OrderChange struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
	Cause  string    `json:"cause"`
}

// Causes is the causes of the order's history, oldest first.
func (o Order) Causes() []string {
	out := make([]string, 0, len(o.History))
	for _, c := range o.History {
		out = append(out, c.Cause)
	}
	return out
}

// Open says whether the order still holds its ticket and can be paid or cancelled.
func (o Order) Open() bool { return o.Status == OrderCreated || o.Status == OrderAwaiting }

// Live says whether the order holds its ticket (open or paid): the API's invariant is that
// at most one order of a ticket is live.
func (o Order) Live() bool { return o.Open() || o.Status == OrderComplete }

// Payment is a payment as the API shows it; ClientSecret only in Stripe's browser flow, the
// Razorpay fields only with Razorpay (what Checkout is opened with; Amount in the currency's
// minor unit).
type Payment struct {
	ID              string `json:"id"`
	OrderID         string `json:"orderId"`
	StripeID        string `json:"stripeId"`
	Status          string `json:"status"`
	ClientSecret    string `json:"clientSecret,omitempty"`
	RazorpayOrderID string `json:"razorpayOrderId,omitempty"`
	KeyID           string `json:"keyId,omitempty"`
	Amount          int64  `json:"amount,omitempty"`
	Currency        string `json:"currency,omitempty"`
}

// PaymentConfig says which payment flow a client offers.
type PaymentConfig struct {
	Provider       string `json:"provider"`
	PublishableKey string `json:"publishableKey"`
	KeyID          string `json:"keyId"`
	Currency       string `json:"currency"`
}

// FieldError is one item of the API's error shape.
type FieldError struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Error is an answer other than a success: its status and its errors (the API's error
// shape; the status text when the body had none).
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

// General is the messages that name none of fields, joined.
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

// Auth is who a call is made for: a bearer token or a session cookie (or neither), the
// waiting room's pass for an event's tickets, and what identifies the request upstream.
type Auth struct {
	Token        string
	Session      string
	QueuePass    string // sent as the Queue-Pass header
	RequestID    string
	ForwardedFor string
}

// QueuePassHeader is where a call carries its waiting-room pass (the orders service also
// reads the queue_pass cookie a browser keeps).
const QueuePassHeader = "Queue-Pass"

// Bearer is Auth with a bearer token.
func Bearer(token string) Auth { return Auth{Token: token} }

// Request is one call. Body, when not nil, is sent as it is for a string or []byte and as
// JSON otherwise, with Content-Type application/json; Header adds or replaces headers.
type Request struct {
	Method string
	Path   string // with the query, from the base URL
	Auth   Auth
	Body   any
	Header http.Header
}

// Response is one exchange: Status 0 with Err for a request that got no answer.
type Response struct {
	Status     int
	Header     http.Header
	Body       []byte
	Start, End time.Time
	Err        error
}

// Dur is the exchange's latency as the client saw it (the request and reading the whole
// body).
func (r Response) Dur() time.Duration { return r.End.Sub(r.Start) }

// OK says whether the exchange got a 2xx answer.
func (r Response) OK() bool { return r.Err == nil && r.Status >= 200 && r.Status < 300 }

// Decode parses the body into v.
func (r Response) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode %d response %q: %w", r.Status, truncate(r.Body, 200), err)
	}
	return nil
}

// Errors is the API error shape's items in the body (none when it has no such shape).
func (r Response) Errors() []FieldError {
	var shape struct {
		Errors []FieldError `json:"errors"`
	}
	_ = json.Unmarshal(r.Body, &shape)
	return shape.Errors
}

// Check is nil for a success, the transport's error for no answer, else an *Error.
func (r Response) Check() error {
	switch {
	case r.Err != nil:
		return r.Err
	case r.OK():
		return nil
	}
	e := &Error{Status: r.Status, Errors: r.Errors()}
	if len(e.Errors) == 0 {
		e.Errors = []FieldError{{Message: http.StatusText(r.Status)}}
	}
	return e
}

// RetryAfter is the Retry-After header in seconds, or 0.
func (r Response) RetryAfter() time.Duration {
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

func (r Response) String() string {
	if r.Err != nil {
		return r.Err.Error()
	}
	return fmt.Sprintf("%d %s", r.Status, truncate(r.Body, 200))
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// Client calls the API at one base URL (the gateway, the ingress, or one service).
type Client struct {
	base    string
	http    *http.Client
	observe func(Request, Response)
}

// Options shape the client's HTTP transport.
type Options struct {
	Timeout  time.Duration // of a whole call; 30s when 0
	MaxConns int           // idle connections kept per host; 64 when 0
	// FollowRedirects follows the API's redirects; by default a redirect is answered as it is.
	FollowRedirects bool
	// HTTP, when not nil, is the client to use (several API clients sharing connections);
	// the fields above are then not used.
	HTTP *http.Client
	// Observe, when not nil, is told of every exchange once it ended (to count answers).
	Observe func(Request, Response)
}

// New is a client of the API at base.
func New(base string, o Options) *Client {
	if o.HTTP != nil {
		return &Client{base: strings.TrimRight(base, "/"), http: o.HTTP, observe: o.Observe}
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxConns == 0 {
		o.MaxConns = 64
	}
	hc := &http.Client{
		Timeout: o.Timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        o.MaxConns,
			MaxIdleConnsPerHost: o.MaxConns,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	if !o.FollowRedirects {
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &Client{base: strings.TrimRight(base, "/"), http: hc, observe: o.Observe}
}

// Base is the base URL the client calls.
func (c *Client) Base() string { return c.base }

// Send makes one call. The body read is bounded at 8 MiB.
func (c *Client) Send(ctx context.Context, r Request) Response {
	resp := c.send(ctx, r)
	if c.observe != nil {
		c.observe(r, resp)
	}
	return resp
}

func (c *Client) send(ctx context.Context, r Request) Response {
	var rd io.Reader
	switch b := r.Body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return Response{Err: err}
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, c.base+r.Path, rd)
	if err != nil {
		return Response{Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if r.Body != nil || (r.Auth.Session != "" && r.Method != http.MethodGet && r.Method != http.MethodHead) {
		// A call with a session cookie that changes state says JSON even without a body: the
		// API accepts the cookie on such a call only then (its defence against cross-site
		// request forgery), so the storefront's sign-out and cancel need it.
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Auth.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Auth.Token)
	}
	if r.Auth.Session != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: r.Auth.Session})
	}
	if r.Auth.RequestID != "" {
		req.Header.Set("X-Request-Id", r.Auth.RequestID)
	}
	if r.Auth.ForwardedFor != "" {
		req.Header.Set("X-Forwarded-For", r.Auth.ForwardedFor)
	}
	if r.Auth.QueuePass != "" {
		req.Header.Set(QueuePassHeader, r.Auth.QueuePass)
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return Response{Start: start, End: time.Now(), Err: fmt.Errorf("%s %s: %w", r.Method, r.Path, err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	out := Response{Status: resp.StatusCode, Header: resp.Header, Body: data, Start: start, End: time.Now()}
	if err != nil {
		out.Err = fmt.Errorf("%s %s: %w", r.Method, r.Path, err)
	}
	return out
}

// Do is Send of method path with a bearer token (when not empty) and body.
func (c *Client) Do(ctx context.Context, method, path, token string, body any) Response {
	return c.Send(ctx, Request{Method: method, Path: path, Auth: Bearer(token), Body: body})
}

// call sends r and decodes a 2xx answer with a body into out.
func call[T any](ctx context.Context, c *Client, r Request) (T, Response, error) {
	var out T
	resp := c.Send(ctx, r)
	if err := resp.Check(); err != nil {
		return out, resp, err
	}
	if len(resp.Body) > 0 {
		if err := resp.Decode(&out); err != nil {
			return out, resp, fmt.Errorf("%s %s: %w", r.Method, r.Path, err)
		}
	}
	return out, resp, nil
}

// Signup creates an account and starts a session (the answer sets the session cookie).
func (c *Client) Signup(ctx context.Context, a Auth, cr Credentials) (Session, Response, error) {
	return call[Session](ctx, c, Request{Method: http.MethodPost, Path: "/api/users/signup", Auth: a, Body: cr})
}

// Signin starts a session (the answer sets the session cookie).
func (c *Client) Signin(ctx context.Context, a Auth, cr Credentials) (Session, Response, error) {
	return call[Session](ctx, c, Request{Method: http.MethodPost, Path: "/api/users/signin", Auth: a, Body: cr})
}

// Signout ends the session (the answer clears the session cookie).
func (c *Client) Signout(ctx context.Context, a Auth) (Response, error) {
	resp := c.Send(ctx, Request{Method: http.MethodPost, Path: "/api/users/signout", Auth: a})
	return resp, resp.Check()
}

// CurrentUser is the signed-in user, or nil.
func (c *Client) CurrentUser(ctx context.Context, a Auth) (*User, Response, error) {
	out, resp, err := call[struct {
		CurrentUser *User `json:"currentUser"`
	}](ctx, c, Request{Method: http.MethodGet, Path: "/api/users/currentuser", Auth: a})
	return out.CurrentUser, resp, err
}

// Tickets is a page of at most limit tickets for sale, newest first, after the ticket id
// after (none when "").
func (c *Client) Tickets(ctx context.Context, a Auth, limit int, after string) ([]Ticket, Response, error) {
	return c.EventTickets(ctx, a, "", limit, after)
}

// EventTickets is Tickets of one event's tickets only (all tickets when eventID is "").
func (c *Client) EventTickets(ctx context.Context, a Auth, eventID string, limit int, after string) ([]Ticket, Response, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	if eventID != "" {
		q.Set("eventId", eventID)
	}
	return call[[]Ticket](ctx, c, Request{Method: http.MethodGet, Path: "/api/tickets?" + q.Encode(), Auth: a})
}

// Ticket is one ticket.
func (c *Client) Ticket(ctx context.Context, a Auth, id string) (Ticket, Response, error) {
	return call[Ticket](ctx, c, Request{Method: http.MethodGet, Path: "/api/tickets/" + url.PathEscape(id), Auth: a})
}

// CreateTicket lists a ticket for sale; in is {title, price} as JSON (a TicketInput, or any
// value that marshals so).
func (c *Client) CreateTicket(ctx context.Context, a Auth, in any) (Ticket, Response, error) {
	return call[Ticket](ctx, c, Request{Method: http.MethodPost, Path: "/api/tickets", Auth: a, Body: in})
}

// UpdateTicket edits a ticket.
func (c *Client) UpdateTicket(ctx context.Context, a Auth, id string, in any) (Ticket, Response, error) {
	return call[Ticket](ctx, c, Request{Method: http.MethodPut, Path: "/api/tickets/" + url.PathEscape(id), Auth: a, Body: in})
}

// NewTicket is the input of a ticket with a numeric price.
func NewTicket(title string, price float64) map[string]any {
	return map[string]any{"title": title, "price": price}
}

// CreateEvent creates an on-sale and its tickets.
func (c *Client) CreateEvent(ctx context.Context, a Auth, in NewEvent) (Event, Response, error) {
	return call[Event](ctx, c, Request{Method: http.MethodPost, Path: "/api/events", Auth: a, Body: in})
}

// Event is one event with its count of available tickets.
func (c *Client) Event(ctx context.Context, a Auth, id string) (Event, Response, error) {
	return call[Event](ctx, c, Request{Method: http.MethodGet, Path: "/api/events/" + url.PathEscape(id), Auth: a})
}

// JoinQueue joins an event's waiting room (again: the same place).
func (c *Client) JoinQueue(ctx context.Context, a Auth, eventID string) (Place, Response, error) {
	return call[Place](ctx, c, Request{Method: http.MethodPost, Path: "/api/queue/" + url.PathEscape(eventID), Auth: a})
}

// QueuePlace is the caller's place in an event's waiting room.
func (c *Client) QueuePlace(ctx context.Context, a Auth, eventID string) (Place, Response, error) {
	return call[Place](ctx, c, Request{Method: http.MethodGet, Path: "/api/queue/" + url.PathEscape(eventID), Auth: a})
}

// CreateOrder holds a ticket (of an event: with a.QueuePass).
func (c *Client) CreateOrder(ctx context.Context, a Auth, ticketID string) (Order, Response, error) {
	return call[Order](ctx, c, Request{Method: http.MethodPost, Path: "/api/orders", Auth: a,
		Body: map[string]string{"ticketId": ticketID}})
}

// Orders is at most limit of the user's orders, newest first (the API's default page when
// limit is 0).
func (c *Client) Orders(ctx context.Context, a Auth, limit int) ([]Order, Response, error) {
	path := "/api/orders"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	return call[[]Order](ctx, c, Request{Method: http.MethodGet, Path: path, Auth: a})
}

// Order is one of the user's orders.
func (c *Client) Order(ctx context.Context, a Auth, id string) (Order, Response, error) {
	return call[Order](ctx, c, Request{Method: http.MethodGet, Path: "/api/orders/" + url.PathEscape(id), Auth: a})
}

// CancelOrder cancels an order, releasing its ticket.
func (c *Client) CancelOrder(ctx context.Context, a Auth, id string) (Response, error) {
	resp := c.Send(ctx, Request{Method: http.MethodDelete, Path: "/api/orders/" + url.PathEscape(id), Auth: a})
	return resp, resp.Check()
}

// Pay charges an order with a card token (token "tok_visa" is Stripe's always-successful
// test card), or, with token "", prepares the PaymentIntent that Stripe.js confirms in the
// browser.
func (c *Client) Pay(ctx context.Context, a Auth, orderID, token string) (Payment, Response, error) {
	body := map[string]string{"orderId": orderID}
	if token != "" {
		body["token"] = token
	}
	return call[Payment](ctx, c, Request{Method: http.MethodPost, Path: "/api/payments", Auth: a, Body: body})
}

// RazorpayCheckout is what Razorpay Checkout hands the browser after a payment: the
// payment, its Razorpay order and the signature over both.
type RazorpayCheckout struct {
	PaymentID string `json:"razorpay_payment_id"`
	OrderID   string `json:"razorpay_order_id"`
	Signature string `json:"razorpay_signature"`
}

// VerifyRazorpay has the API verify and record the payment Razorpay Checkout made.
func (c *Client) VerifyRazorpay(ctx context.Context, a Auth, in RazorpayCheckout) (Payment, Response, error) {
	return call[Payment](ctx, c, Request{Method: http.MethodPost, Path: "/api/payments/razorpay/verify", Auth: a, Body: in})
}

// PaymentConfig is the API's payment flow.
func (c *Client) PaymentConfig(ctx context.Context) (PaymentConfig, Response, error) {
	return call[PaymentConfig](ctx, c, Request{Method: http.MethodGet, Path: "/api/payments/config"})
}

// IsStatus says whether err is an *Error with status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

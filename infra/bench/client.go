package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client speaks the REST API of docs/API.md to one base URL.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient keeps up to maxConns idle connections, so that a burst of maxConns concurrent
// requests reuses warm connections.
func NewClient(base string, maxConns int) *Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{base: strings.TrimRight(base, "/"), hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// Resp is one exchange: status 0 with Err for a transport failure.
type Resp struct {
	Status     int
	Header     http.Header
	Body       []byte
	Start, End time.Time
	RetryAfter time.Duration
	Err        error
}

// Dur is the request's latency as the client saw it.
func (r Resp) Dur() time.Duration { return r.End.Sub(r.Start) }

// Decode parses the body into v.
func (r Resp) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode %d response %q: %w", r.Status, truncate(r.Body, 200), err)
	}
	return nil
}

func (r Resp) String() string {
	if r.Err != nil {
		return r.Err.Error()
	}
	return fmt.Sprintf("%d %s", r.Status, truncate(r.Body, 200))
}

// retryable reports a response that a setup step may send again: transport errors,
// 429, 502, 503, 504.
func (r Resp) retryable() bool {
	switch {
	case r.Err != nil:
		return !errors.Is(r.Err, context.Canceled) && !errors.Is(r.Err, context.DeadlineExceeded)
	case r.Status == http.StatusTooManyRequests, r.Status == http.StatusBadGateway,
		r.Status == http.StatusServiceUnavailable, r.Status == http.StatusGatewayTimeout:
		return true
	}
	return false
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// Do sends one request; body, when not nil, is sent as JSON. The latency covers the
// request and reading the whole response body.
func (c *Client) Do(ctx context.Context, method, path, token string, body any) Resp {
	return c.DoWith(ctx, method, path, token, body, nil)
}

// DoWith is Do with header's fields added to the request.
func (c *Client) DoWith(ctx context.Context, method, path, token string, body any, header http.Header) Resp {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Resp{Err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return Resp{Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return Resp{Start: start, End: time.Now(), Err: err}
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r := Resp{Status: resp.StatusCode, Header: resp.Header, Body: b, Start: start, End: time.Now(), Err: err}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		r.RetryAfter = time.Duration(s) * time.Second
	}
	return r
}

// retry sends the request produced by send until it is not retryable, at most attempts
// times, backing off from 50ms.
func retry(ctx context.Context, attempts int, send func() Resp) Resp {
	backoff := 50 * time.Millisecond
	var r Resp
	for i := 0; i < attempts; i++ {
		r = send()
		if !r.retryable() {
			return r
		}
		wait := max(backoff, r.RetryAfter)
		select {
		case <-ctx.Done():
			return r
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	return r
}

// User is a signed-up account and its bearer token.
type User struct {
	ID, Email, Token string
}

// Ticket is the tickets service's view of a ticket.
type Ticket struct {
	ID      string  `json:"id"`
	Version int64   `json:"version"`
	OrderID *string `json:"orderId"`
}

// Order is the orders service's view of an order.
type Order struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expiresAt"`
	Version   int64     `json:"version"`
	Ticket    struct {
		ID string `json:"id"`
	} `json:"ticket"`
}

// Live reports whether the order holds its ticket (docs/API.md's invariant).
func (o Order) Live() bool {
	return o.Status == "created" || o.Status == "awaiting:payment" || o.Status == "complete"
}

const benchPassword = "bench-password-1"

// Signup creates an account (or signs in when the email exists) and returns its token.
func (c *Client) Signup(ctx context.Context, email string) (User, error) {
	body := map[string]string{"email": email, "password": benchPassword}
	r := retry(ctx, 30, func() Resp { return c.Do(ctx, "POST", "/api/users/signup", "", body) })
	if r.Err == nil && r.Status == http.StatusConflict {
		r = retry(ctx, 30, func() Resp { return c.Do(ctx, "POST", "/api/users/signin", "", body) })
	}
	if r.Err != nil || (r.Status != http.StatusCreated && r.Status != http.StatusOK) {
		return User{}, fmt.Errorf("sign up %s: %s", email, r)
	}
	var out struct {
		ID    string `json:"id"`
		Email string `json:"email"`
		Token string `json:"token"`
	}
	if err := r.Decode(&out); err != nil {
		return User{}, err
	}
	if out.Token == "" {
		return User{}, fmt.Errorf("sign up %s: no token in %s", email, r)
	}
	return User{ID: out.ID, Email: out.Email, Token: out.Token}, nil
}

// CreateTicket lists a ticket for sale and returns its id and the response.
func (c *Client) CreateTicket(ctx context.Context, seller User, title string, price float64) (string, Resp, error) {
	r := c.Do(ctx, "POST", "/api/tickets", seller.Token, map[string]any{"title": title, "price": price})
	if r.Err != nil || r.Status != http.StatusCreated {
		return "", r, fmt.Errorf("create ticket: %s", r)
	}
	var t Ticket
	if err := r.Decode(&t); err != nil {
		return "", r, err
	}
	return t.ID, r, nil
}

// PlaceOrder is POST /api/orders; the caller reads the status.
func (c *Client) PlaceOrder(ctx context.Context, buyer User, ticketID string) Resp {
	return c.Do(ctx, "POST", "/api/orders", buyer.Token, map[string]string{"ticketId": ticketID})
}

// Orders lists up to 500 of the user's orders, newest first.
func (c *Client) Orders(ctx context.Context, u User) ([]Order, Resp, error) {
	r := c.Do(ctx, "GET", "/api/orders?limit=500", u.Token, nil)
	if r.Err != nil || r.Status != http.StatusOK {
		return nil, r, fmt.Errorf("list orders: %s", r)
	}
	var out []Order
	return out, r, r.Decode(&out)
}

// GetOrder reads one order.
func (c *Client) GetOrder(ctx context.Context, u User, id string) (Order, Resp, error) {
	r := c.Do(ctx, "GET", "/api/orders/"+id, u.Token, nil)
	if r.Err != nil || r.Status != http.StatusOK {
		return Order{}, r, fmt.Errorf("get order: %s", r)
	}
	var o Order
	return o, r, r.Decode(&o)
}

// GetTicket reads one ticket from the tickets service.
func (c *Client) GetTicket(ctx context.Context, id string) (Ticket, Resp, error) {
	r := c.Do(ctx, "GET", "/api/tickets/"+id, "", nil)
	if r.Err != nil || r.Status != http.StatusOK {
		return Ticket{}, r, fmt.Errorf("get ticket: %s", r)
	}
	var t Ticket
	return t, r, r.Decode(&t)
}

// Pay is POST /api/payments with Stripe's always-successful test card token.
func (c *Client) Pay(ctx context.Context, u User, orderID string) Resp {
	return c.Do(ctx, "POST", "/api/payments", u.Token, map[string]string{"orderId": orderID, "token": "tok_visa"})
}

// parallel runs fn(i) for i in [0, n) on at most workers goroutines and returns the first
// error; after an error no new index starts.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for range min(workers, max(n, 1)) {
		wg.Go(func() {
			for {
				mu.Lock()
				if first != nil || next >= n || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		// the parent's context ended
		return context.Cause(ctx)
	}
	return first
}

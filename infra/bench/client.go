package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"ticketing/common/apiclient"
)

// Client speaks the REST API of docs/API.md to one base URL, through the platform's typed
// client, with the bench's retries of its setup steps.
type Client struct {
	*apiclient.Client
}

// NewClient keeps up to maxConns idle connections, so that a burst of maxConns concurrent
// requests reuses warm connections.
func NewClient(base string, maxConns int) *Client {
	return &Client{apiclient.New(base, apiclient.Options{Timeout: 60 * time.Second, MaxConns: maxConns})}
}

// Resp is one exchange: status 0 with Err for a transport failure; its latency covers the
// request and reading the whole response body.
type Resp = apiclient.Response

// retryable reports a response that a setup step may send again: transport errors,
// 429, 502, 503, 504.
func retryable(r Resp) bool {
	switch {
	case r.Err != nil:
		return !errors.Is(r.Err, context.Canceled) && !errors.Is(r.Err, context.DeadlineExceeded)
	case r.Status == http.StatusTooManyRequests, r.Status == http.StatusBadGateway,
		r.Status == http.StatusServiceUnavailable, r.Status == http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retry sends the request produced by send until it is not retryable, at most attempts
// times, backing off from 50ms.
func retry(ctx context.Context, attempts int, send func() Resp) Resp {
	backoff := 50 * time.Millisecond
	var r Resp
	for i := 0; i < attempts; i++ {
		r = send()
		if !retryable(r) {
			return r
		}
		wait := max(backoff, r.RetryAfter())
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
type User = apiclient.Session

// Ticket is the tickets service's view of a ticket.
type Ticket = apiclient.Ticket

// Order is the orders service's view of an order; Live says whether it holds its ticket
// (the API's invariant: at most one live order per ticket).
type Order = apiclient.Order

const benchPassword = "bench-password-1"

// Signup creates an account (or signs in when the email exists) and returns its token.
func (c *Client) Signup(ctx context.Context, email string) (User, error) {
	cr := apiclient.Credentials{Email: email, Password: benchPassword}
	var u User
	var r Resp
	r = retry(ctx, 30, func() Resp { u, r, _ = c.Client.Signup(ctx, apiclient.Auth{}, cr); return r })
	if r.Err == nil && r.Status == http.StatusConflict {
		r = retry(ctx, 30, func() Resp { u, r, _ = c.Client.Signin(ctx, apiclient.Auth{}, cr); return r })
	}
	if r.Err != nil || (r.Status != http.StatusCreated && r.Status != http.StatusOK) {
		return User{}, fmt.Errorf("sign up %s: %s", email, r)
	}
	if u.Token == "" {
		return User{}, fmt.Errorf("sign up %s: no token in %s", email, r)
	}
	return u, nil
}

// CreateTicket lists a ticket for sale and returns its id and the response.
func (c *Client) CreateTicket(ctx context.Context, seller User, title string, price float64) (string, Resp, error) {
	t, r, err := c.Client.CreateTicket(ctx, apiclient.Bearer(seller.Token), apiclient.NewTicket(title, price))
	if err != nil || r.Status != http.StatusCreated {
		return "", r, fmt.Errorf("create ticket: %s", r)
	}
	return t.ID, r, nil
}

// PlaceOrder is POST /api/orders; the caller reads the status.
func (c *Client) PlaceOrder(ctx context.Context, buyer User, ticketID string) Resp {
	return c.PlaceOrderPass(ctx, buyer, ticketID, "")
}

// PlaceOrderPass is PlaceOrder with a waiting-room pass (a ticket of an event).
func (c *Client) PlaceOrderPass(ctx context.Context, buyer User, ticketID, pass string) Resp {
	_, r, _ := c.CreateOrder(ctx, apiclient.Auth{Token: buyer.Token, QueuePass: pass}, ticketID)
	return r
}

// Orders lists up to 500 of the user's orders, newest first.
func (c *Client) Orders(ctx context.Context, u User) ([]Order, Resp, error) {
	out, r, err := c.Client.Orders(ctx, apiclient.Bearer(u.Token), 500)
	if err != nil {
		return nil, r, fmt.Errorf("list orders: %s", r)
	}
	return out, r, nil
}

// GetOrder reads one order.
func (c *Client) GetOrder(ctx context.Context, u User, id string) (Order, Resp, error) {
	o, r, err := c.Order(ctx, apiclient.Bearer(u.Token), id)
	if err != nil {
		return Order{}, r, fmt.Errorf("get order: %s", r)
	}
	return o, r, nil
}

// GetTicket reads one ticket from the tickets service.
func (c *Client) GetTicket(ctx context.Context, id string) (Ticket, Resp, error) {
	t, r, err := c.Ticket(ctx, apiclient.Auth{}, id)
	if err != nil {
		return Ticket{}, r, fmt.Errorf("get ticket: %s", r)
	}
	return t, r, nil
}

// Pay is POST /api/payments with Stripe's always-successful test card token.
func (c *Client) Pay(ctx context.Context, u User, orderID string) Resp {
	_, r, _ := c.Client.Pay(ctx, apiclient.Bearer(u.Token), orderID, "tok_visa")
	return r
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

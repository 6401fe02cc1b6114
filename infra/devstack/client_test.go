package main

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"ticketing/common/apiclient"
	"ticketing/common/testkit"
)

// unthrottled is env with the rate limits of writes off: the tests send thousands of writes
// from 127.0.0.1 as a few users (the limits have tests of their own, in common/ratelimit
// and through the orders service).
func unthrottled(env map[string]string) map[string]string {
	out := map[string]string{"RATE_LIMIT_USER": "0", "RATE_LIMIT_CLIENT": "0"}
	maps.Copy(out, env)
	return out
}

// client speaks the API to the gateway (the shared test client) and records every status it
// sees.
type client struct {
	*testkit.API
	t testing.TB

	mu       sync.Mutex
	statuses map[string]map[int]int // route -> status -> count
}

func newClient(t testing.TB, base string) *client {
	c := &client{t: t, statuses: map[string]map[int]int{}}
	c.API = testkit.NewAPI(t, base, apiclient.Options{Timeout: 30 * time.Second, MaxConns: 256, Observe: c.count})
	return c
}

// count records the status of an answer by route.
func (c *client) count(r apiclient.Request, resp apiclient.Response) {
	if resp.Status == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	route := r.Method + " " + routeOf(r.Path)
	if c.statuses[route] == nil {
		c.statuses[route] = map[int]int{}
	}
	c.statuses[route][resp.Status]++
}

type reply = testkit.Reply

// do sends a request; body may be nil, a string (sent as is) or a value (sent as JSON). A
// request that gets no answer has status 0 and the error as its body.
func (c *client) do(method, path, token string, body any) reply {
	return c.Try(method, path, token, body)
}

// routeOf folds ids out of a path, for counting.
func routeOf(path string) string {
	path, _, _ = strings.Cut(path, "?")
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if len(p) == 24 || (i == 3 && p != "" && p != "signup" && p != "signin" && p != "signout" && p != "currentuser" && p != "webhook" && p != "razorpay") {
			parts[i] = "{id}"
		}
	}
	return strings.Join(parts, "/")
}

// must sends a request and fails the test unless the status is want.
func (c *client) must(want int, method, path, token string, body any) reply {
	c.t.Helper()
	r := c.do(method, path, token, body)
	if r.Status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	return r
}

type user = apiclient.Session

func (c *client) signup(email string) user {
	c.t.Helper()
	return c.Signup(email)
}

func (c *client) users(prefix string, n int) []user {
	c.t.Helper()
	// A few at a time: password hashing is meant to be slow, and auth answers 429 to a burst
	// of sign-ups past its hashing share and queue.
	out := make([]user, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = c.signup(fmt.Sprintf("%s%d-%d@example.com", prefix, i, time.Now().UnixNano()))
		}()
	}
	wg.Wait()
	return out
}

func (c *client) ticket(id string) apiclient.Ticket {
	c.t.Helper()
	var v apiclient.Ticket
	c.must(200, "GET", "/api/tickets/"+id, "", nil).JSON(&v)
	return v
}

func (c *client) order(u user, id string) apiclient.Order {
	c.t.Helper()
	var v apiclient.Order
	c.must(200, "GET", "/api/orders/"+id, u.Token, nil).JSON(&v)
	return v
}

func (c *client) createTicket(seller user, title string, price float64) apiclient.Ticket {
	c.t.Helper()
	var v apiclient.Ticket
	c.must(201, "POST", "/api/tickets", seller.Token, apiclient.NewTicket(title, price)).JSON(&v)
	return v
}

// orderWhenReady places an order, retrying the 404 that answers while the orders service's
// replica of a new ticket has not caught up yet.
func (c *client) orderWhenReady(buyer user, ticketID string) reply {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := c.do("POST", "/api/orders", buyer.Token, map[string]string{"ticketId": ticketID})
		if r.Status != 404 || time.Now().After(deadline) {
			return r
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

func (c *client) listed(id string) bool {
	c.t.Helper()
	var list []apiclient.Ticket
	c.must(200, "GET", "/api/tickets?limit=500", "", nil).JSON(&list)
	for _, v := range list {
		if v.ID == id {
			return true
		}
	}
	return false
}

func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

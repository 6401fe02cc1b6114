package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// client speaks API.md to the gateway and records every status it sees.
type client struct {
	t    testing.TB
	base string
	http *http.Client

	mu       sync.Mutex
	statuses map[string]map[int]int // route -> status -> count
}

func newClient(t testing.TB, base string) *client {
	return &client{t: t, base: base, http: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 256}}, statuses: map[string]map[int]int{}}
}

type reply struct {
	Status int
	Body   []byte
	Header http.Header
}

func (r reply) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

func (r reply) field(t testing.TB, name string) string {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	s, _ := m[name].(string)
	return s
}

// do sends a request; body may be nil, a string (sent as is) or a value (sent as JSON).
func (c *client) do(method, path, token string, body any) reply {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{Status: 0, Body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	c.mu.Lock()
	route := method + " " + routeOf(path)
	if c.statuses[route] == nil {
		c.statuses[route] = map[int]int{}
	}
	c.statuses[route][resp.StatusCode]++
	c.mu.Unlock()
	return reply{Status: resp.StatusCode, Body: data, Header: resp.Header}
}

// routeOf folds ids out of a path, for counting.
func routeOf(path string) string {
	path, _, _ = strings.Cut(path, "?")
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if len(p) == 24 || (i == 3 && p != "" && p != "signup" && p != "signin" && p != "signout" && p != "currentuser" && p != "webhook") {
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

type user struct{ id, email, token string }

func (c *client) signup(email string) user {
	c.t.Helper()
	r := c.must(201, "POST", "/api/users/signup", "", map[string]string{"email": email, "password": "correct horse battery"})
	return user{id: r.field(c.t, "id"), email: email, token: r.field(c.t, "token")}
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

type ticketView struct {
	ID      string  `json:"id"`
	Title   string  `json:"title"`
	Price   float64 `json:"price"`
	UserID  string  `json:"userId"`
	Version int64   `json:"version"`
	OrderID *string `json:"orderId"`
}

type orderView struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expiresAt"`
	Version   int64     `json:"version"`
	Ticket    struct {
		ID string `json:"id"`
	} `json:"ticket"`
}

func (c *client) ticket(id string) ticketView {
	c.t.Helper()
	var v ticketView
	c.must(200, "GET", "/api/tickets/"+id, "", nil).json(c.t, &v)
	return v
}

func (c *client) order(u user, id string) orderView {
	c.t.Helper()
	var v orderView
	c.must(200, "GET", "/api/orders/"+id, u.token, nil).json(c.t, &v)
	return v
}

func (c *client) createTicket(seller user, title string, price float64) ticketView {
	c.t.Helper()
	var v ticketView
	c.must(201, "POST", "/api/tickets", seller.token, map[string]any{"title": title, "price": price}).json(c.t, &v)
	return v
}

// orderWhenReady places an order, retrying the 404 that answers while the orders service's
// replica of a new ticket has not caught up yet.
func (c *client) orderWhenReady(buyer user, ticketID string) reply {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := c.do("POST", "/api/orders", buyer.token, map[string]string{"ticketId": ticketID})
		if r.Status != 404 || time.Now().After(deadline) {
			return r
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

func (c *client) listed(id string) bool {
	c.t.Helper()
	var list []ticketView
	c.must(200, "GET", "/api/tickets?limit=500", "", nil).json(c.t, &list)
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

package orders_test

import (
	"net/http"
	"strconv"
	"sync"
	"testing"

	"ticketing/common/testkit"
)

// The rate limits of writes on the orders service's own router: two replicas sharing one
// Redis share a user's allowance (RATE_LIMIT_USER); past it POST /api/orders answers 429 with
// Retry-After and the error shape, never a 5xx, and counts the refusal; other users and
// reads are not held back.
func TestOrdersWritesRateLimited(t *testing.T) {
	rs := testkit.Redis(t)
	h := newHarness(t, map[string]string{"RATE_LIMIT_USER": "4", "RATE_LIMIT_CLIENT": "1000", "RATE_LIMIT_WINDOW": "1m",
		"REDIS_ADDR": rs.Addr, "REDIS_DB": strconv.Itoa(rs.DB)})
	instances := []string{h.serve(), h.serve()}
	alice := testkit.Token(t, "alice", "alice@example.com")
	ticket := h.ticket("Show", 1500)
	body := map[string]string{"ticketId": ticket}
	match := map[string]string{"service": "orders", "route": "/api/orders"}
	before := testkit.Counter(t, "ticketing_http_throttled_total", match)

	// 12 orders at once, 6 per replica: the first is placed, the next 3 find the ticket held
	// (409), and the 8 past the allowance are refused before they reach the handler.
	var mu sync.Mutex
	codes := map[int]int{}
	var refused testkit.Reply
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			r := callWith(t, http.MethodPost, instances[i%2]+"/api/orders", alice, body, nil)
			mu.Lock()
			defer mu.Unlock()
			codes[r.Status]++
			if r.Status == http.StatusTooManyRequests {
				refused = r
			}
		})
	}
	wg.Wait()
	if codes[http.StatusCreated] != 1 || codes[http.StatusConflict] != 3 || codes[http.StatusTooManyRequests] != 8 {
		t.Fatalf("answers %v, want 1 x 201, 3 x 409, 8 x 429 over two replicas", codes)
	}
	if s, err := strconv.Atoi(refused.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After %q, want whole seconds within the minute", refused.Header.Get("Retry-After"))
	}
	if len(refused.Errors()) != 1 || refused.Message() == "" {
		t.Errorf("429 body %s is not the error shape", refused.Body)
	}
	if d := testkit.Counter(t, "ticketing_http_throttled_total", match) - before; d != 8 {
		t.Errorf("ticketing_http_throttled_total{service=orders} moved by %v, want 8", d)
	}

	bob := testkit.Token(t, "bob", "bob@example.com")
	if r := callWith(t, http.MethodPost, instances[0]+"/api/orders", bob, body, nil); r.Status != http.StatusConflict {
		t.Errorf("bob's order: %d %s, want 409 (the ticket is held): alice's writes held bob back", r.Status, r.Body)
	}
	if r := callWith(t, http.MethodGet, instances[1]+"/api/orders", alice, nil, nil); r.Status != http.StatusOK {
		t.Errorf("alice's GET /api/orders: %d, want 200: reads are not limited", r.Status)
	}
}

// With its Redis unreachable the orders service still starts, serves and limits: each
// replica counts in process, and nothing answers 5xx.
func TestOrdersWritesLimitedWithoutRedis(t *testing.T) {
	h := newHarness(t, map[string]string{"RATE_LIMIT_USER": "2", "RATE_LIMIT_CLIENT": "1000", "REDIS_ADDR": "127.0.0.1:1"})
	url := h.serve()
	alice := testkit.Token(t, "alice", "alice@example.com")
	body := map[string]string{"ticketId": h.ticket("Show", 1500)}
	codes := map[int]int{}
	for range 6 {
		r := callWith(t, http.MethodPost, url+"/api/orders", alice, body, nil)
		codes[r.Status]++
	}
	if codes[http.StatusCreated] != 1 || codes[http.StatusConflict] != 1 || codes[http.StatusTooManyRequests] != 4 {
		t.Errorf("answers %v with Redis unreachable, want 1 x 201, 1 x 409, 4 x 429", codes)
	}
}

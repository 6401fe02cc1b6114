package orders_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/apiclient"
	"ticketing/common/idempotency"
	"ticketing/common/testkit"
)

// A client that retries POST /api/orders with its Idempotency-Key, on whichever of two
// instances, at the same time or later, creates one order and gets that order each time.
func TestIdempotentOrder(t *testing.T) {
	h := newHarness(t, nil)
	instances := []string{h.serve(), h.serve()}
	alice := testkit.Token(t, "alice", "alice@example.com")
	ticket := h.ticket("Show", 1500)
	body := map[string]string{"ticketId": ticket}
	key := http.Header{idempotency.Header: {"retry-me-1"}}

	// Four tries at once, two per instance: one runs, the others are told it is running (409)
	// or, once it is done, get its answer.
	var wg sync.WaitGroup
	results := make([]testkit.Reply, 4)
	for i := range results {
		wg.Go(func() { results[i] = callWith(t, "POST", instances[i%2]+"/api/orders", alice, body, key) })
	}
	wg.Wait()
	var id string
	for _, r := range results {
		switch r.Status {
		case http.StatusCreated:
			var o apiclient.Order
			r.JSON(&o)
			if id != "" && o.ID != id {
				t.Errorf("two orders answered: %s and %s", id, o.ID)
			}
			id = o.ID
		case http.StatusConflict:
			if msg := r.Message(); msg != "A request with this Idempotency-Key is still being handled" {
				t.Errorf("409 %q", msg)
			}
		default:
			t.Errorf("%d %s", r.Status, r.Body)
		}
	}
	if id == "" {
		t.Fatal("no try got the order")
	}
	// Later retries, on both instances, replay it.
	for _, url := range instances {
		r := callWith(t, "POST", url+"/api/orders", alice, body, key)
		var o apiclient.Order
		r.JSON(&o)
		if r.Status != http.StatusCreated || o.ID != id || r.Header.Get(idempotency.ReplayedHeader) != "true" {
			t.Errorf("retry: %d %s", r.Status, r.Body)
		}
	}
	// The same key for another ticket is refused.
	r := callWith(t, "POST", instances[0]+"/api/orders", alice, map[string]string{"ticketId": h.ticket("Other", 100)}, key)
	if r.Status != http.StatusUnprocessableEntity {
		t.Errorf("another body: %d %s", r.Status, r.Body)
	}
	n, err := h.st.Orders().CountDocuments(context.Background(), bson.M{"userId": "alice"})
	if err != nil || n != 1 {
		t.Errorf("%d orders stored (%v), want 1", n, err)
	}
}

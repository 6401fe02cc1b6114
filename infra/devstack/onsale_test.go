package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"ticketing/common/testkit"
)

// An on-sale through the gateway of the dev stack (one process): a seller creates an event
// that opens in a moment; a buyer who orders before it is refused (409), joins the waiting
// room (waiting, no position), is admitted when it opens, is refused without the pass (403),
// orders with it, and is stopped at the event's limit (409).
func TestOnSaleThroughGateway(t *testing.T) {
	rs := testkit.Redis(t)
	s := startStack(t, Options{RedisAddr: rs.Addr, RedisDB: rs.DB, LogLevel: "warn", Logs: io.Discard})
	c := newClient(t, s.URL)
	seller, buyer := c.signup("seller@example.com"), c.signup("buyer@example.com")
	send := func(method, path, token string, body any, header http.Header) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, s.URL+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range header {
			req.Header[k] = v
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	message := func(out map[string]any) string {
		if errs, ok := out["errors"].([]any); ok && len(errs) > 0 {
			m, _ := errs[0].(map[string]any)["message"].(string)
			return m
		}
		return ""
	}

	open := time.Now().Add(4 * time.Second).UTC()
	st, ev := send("POST", "/api/events", seller.Token, map[string]any{
		"title": "Gala", "onSaleAt": open.Format(time.RFC3339Nano), "tickets": map[string]any{"count": 5, "price": 10}, "maxPerUser": 2,
	}, nil)
	if st != http.StatusCreated {
		t.Fatalf("POST /api/events: %d %v", st, ev)
	}
	event := ev["id"].(string)
	var tickets []map[string]any
	eventually(t, 20*time.Second, "the event's tickets listed", func() bool {
		r := c.do("GET", "/api/tickets?eventId="+event, "", nil)
		tickets = nil
		return r.Status == 200 && json.Unmarshal(r.Body, &tickets) == nil && len(tickets) == 5
	})
	ticket := func(i int) map[string]any { return map[string]any{"ticketId": tickets[i]["id"]} }

	var place map[string]any
	eventually(t, 20*time.Second, "the queue and orders know the event", func() bool {
		st, place = send("POST", "/api/queue/"+event, buyer.Token, nil, nil)
		if st != http.StatusOK {
			return false
		}
		st, out := send("POST", "/api/orders", buyer.Token, ticket(0), nil)
		return time.Now().Before(open) && st == http.StatusConflict && message(out) == "Not on sale yet"
	})
	if place["status"] != "waiting" || place["position"] != nil {
		t.Errorf("before the sale: %v", place)
	}
	eventually(t, 30*time.Second, "admitted", func() bool {
		_, place = send("GET", "/api/queue/"+event, buyer.Token, nil, nil)
		return place["status"] == "admitted"
	})
	pass := http.Header{"Queue-Pass": {place["pass"].(string)}}
	if st, out := send("POST", "/api/orders", buyer.Token, ticket(0), nil); st != http.StatusForbidden || message(out) != "Queue pass required" {
		t.Errorf("without the pass: %d %v", st, out)
	}
	for i := range 2 {
		if st, out := send("POST", "/api/orders", buyer.Token, ticket(i), pass); st != http.StatusCreated {
			t.Fatalf("order %d with the pass: %d %v", i, st, out)
		}
	}
	if st, out := send("POST", "/api/orders", buyer.Token, ticket(2), pass); st != http.StatusConflict || message(out) != "Order limit reached" {
		t.Errorf("past the limit: %d %v", st, out)
	}
	eventually(t, 20*time.Second, "available counts the held tickets", func() bool {
		st, ev := send("GET", "/api/events/"+event, "", nil, nil)
		return st == http.StatusOK && ev["available"] == float64(3)
	})
}

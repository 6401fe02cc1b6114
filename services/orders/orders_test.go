package orders_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"ticketing/common/apiclient"
	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/orders"
	"ticketing/services/orders/internal/order"
)

func TestLoadConfig(t *testing.T) {
	env := testkit.ServiceEnv(t, "nats://127.0.0.1:1")
	cfg, err := orders.LoadConfig(config.FromMap(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "orders" || cfg.ExpirationWindow != 15*time.Minute || cfg.HoldGrace != time.Minute ||
		cfg.SweepInterval != 30*time.Second || cfg.SweepGrace != 30*time.Second {
		t.Errorf("defaults: %+v", cfg)
	}
	env["EXPIRATION_WINDOW"] = "2s"
	env["HOLD_GRACE"] = "3s"
	env["SWEEP_INTERVAL"] = "200ms"
	env["SWEEP_GRACE"] = "1s"
	if cfg, err = orders.LoadConfig(config.FromMap(env)); err != nil ||
		cfg.ExpirationWindow != 2*time.Second || cfg.HoldGrace != 3*time.Second ||
		cfg.SweepInterval != 200*time.Millisecond || cfg.SweepGrace != time.Second {
		t.Errorf("set: %+v, %v", cfg, err)
	}
	env["EXPIRATION_WINDOW"] = "soon"
	env["SWEEP_GRACE"] = "-1s"
	delete(env, "NATS_URL")
	_, err = orders.LoadConfig(config.FromMap(env))
	for _, key := range []string{"EXPIRATION_WINDOW", "SWEEP_GRACE", "NATS_URL"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("bad config error %v does not name %s", err, key)
		}
	}
}

// A start that cannot reach its bus fails with the reason, having closed its database.
// TestRunWaitsForNATS: started while NATS is unreachable, the service waits for it (until
// its context ends, here) instead of exiting.
func TestRunWaitsForNATS(t *testing.T) {
	env := testkit.ServiceEnv(t, fmt.Sprintf("nats://127.0.0.1:%d", testkit.FreePort(t)))
	cfg, err := orders.LoadConfig(config.FromMap(env))
	if err != nil {
		t.Fatal(err)
	}
	const wait = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	start := time.Now()
	err = orders.Run(ctx, cfg)
	if took := time.Since(start); took < wait {
		t.Errorf("Run returned after %s, before its context ended: %v", took, err)
	}
	if err == nil || !strings.Contains(err.Error(), "NATS") {
		t.Errorf("Run = %v, want the NATS connection error it gave up on", err)
	}
}

// TestSellerCannotOrderOwnTicket: 403 "Cannot order your own ticket", and the ticket stays
// free for another buyer.
func TestSellerCannotOrderOwnTicket(t *testing.T) {
	h := newHarness(t, nil)
	base := h.serve()
	seller := testkit.Token(t, "seller", "seller@example.com")
	buyer := testkit.Token(t, "buyer", "buyer@example.com")
	id := h.ticket("Own", 1000) // sold by user "seller"
	r := testkit.Call(t, "POST", base+"/api/orders", seller, map[string]string{"ticketId": id})
	if r.Status != http.StatusForbidden || r.Message() != "Cannot order your own ticket" {
		t.Fatalf("seller orders own ticket: %d %s, want 403", r.Status, r.Body)
	}
	if rep := h.waitReplica(id, 0); !rep.Hold.Free(time.Now()) {
		t.Fatalf("the refused order left a hold: %+v", rep.Hold)
	}
	placeOrder(t, base, buyer, id)
	// The seller is refused with 403 even while the ticket is held by someone else.
	if r := testkit.Call(t, "POST", base+"/api/orders", seller, map[string]string{"ticketId": id}); r.Status != http.StatusForbidden {
		t.Fatalf("seller orders own held ticket: %d %s, want 403", r.Status, r.Body)
	}
}

// Every row of the Orders table of API.md, with each of its status codes.
func TestOrdersAPI(t *testing.T) {
	h := newHarness(t, nil)
	base := h.serve()
	alice := testkit.Token(t, "alice", "alice@example.com")
	bob := testkit.Token(t, "bob", "bob@example.com")
	t1 := h.ticket("Concert", 2010)
	t2 := h.ticket("Opera", 5000)

	for _, path := range []string{"/healthz", "/readyz"} {
		if r := testkit.Call(t, "GET", base+path, "", nil); r.Status != http.StatusOK {
			t.Errorf("GET %s = %d %s", path, r.Status, r.Body)
		}
	}

	// POST /api/orders: 401, 400, 413, 404, 201, 409.
	post := func(token string, body any) testkit.Reply {
		return testkit.Call(t, "POST", base+"/api/orders", token, body)
	}
	if r := post("", map[string]string{"ticketId": t1}); r.Status != http.StatusUnauthorized {
		t.Errorf("POST without a token = %d", r.Status)
	}
	for name, body := range map[string]any{
		"empty object":  map[string]any{},
		"empty id":      map[string]any{"ticketId": ""},
		"wrong type":    map[string]any{"ticketId": 5},
		"unknown field": map[string]any{"ticketId": t1, "price": 1},
		"not JSON":      "{ticketId:",
		"no body":       "",
		"array":         "[]",
	} {
		r := post(alice, body)
		if r.Status != http.StatusBadRequest {
			t.Errorf("POST with %s = %d %s, want 400", name, r.Status, r.Body)
			continue
		}
		r.Errors() // the error shape, with a message
	}
	if r := post(alice, map[string]any{}); r.ErrorField() != "ticketId" {
		t.Errorf("missing ticketId names field %q", r.ErrorField())
	}
	if r := post(alice, map[string]any{"ticketId": 5}); r.ErrorField() != "ticketId" {
		t.Errorf("wrong type names field %q", r.ErrorField())
	}
	if r := post(alice, `{"ticketId":"`+strings.Repeat("x", 2<<20)+`"}`); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("POST of 2 MiB = %d", r.Status)
	}
	for _, id := range []string{"000000000000000000000000", "not an id", t1 + "x"} {
		if r := post(alice, map[string]string{"ticketId": id}); r.Status != http.StatusNotFound {
			t.Errorf("POST for unknown ticket %q = %d %s", id, r.Status, r.Body)
		}
	}

	before := time.Now()
	r := post(alice, map[string]string{"ticketId": t1})
	if r.Status != http.StatusCreated {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	if r.Header.Get("X-Request-Id") == "" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers: %v", r.Header)
	}
	var raw map[string]any
	r.JSON(&raw)
	if raw["ticket"].(map[string]any)["price"] != 20.1 {
		t.Errorf("price = %v, want 20.1", raw["ticket"])
	}
	var a1 apiclient.Order
	r.JSON(&a1)
	if a1.ID == "" || a1.UserID != "alice" || a1.Status != "created" || a1.Version != 0 ||
		a1.Ticket.ID != t1 || a1.Ticket.Title != "Concert" || a1.Ticket.Price.Float() != 20.1 || a1.Ticket.Version != 0 {
		t.Errorf("created order = %+v", a1)
	}
	if lo, hi := before.Add(15*time.Minute-time.Second), time.Now().Add(15*time.Minute); a1.ExpiresAt.Before(lo) || a1.ExpiresAt.After(hi) {
		t.Errorf("expiresAt = %v, want now + 15m", a1.ExpiresAt)
	}
	if !strings.HasSuffix(string(mustField(t, r.Body, "expiresAt")), `Z"`) {
		t.Errorf("expiresAt %s is not UTC", mustField(t, r.Body, "expiresAt"))
	}

	r = post(bob, map[string]string{"ticketId": t1})
	if r.Status != http.StatusConflict || r.Message() != "Ticket is already reserved" {
		t.Errorf("second order for a held ticket = %d %s", r.Status, r.Body)
	}
	a2 := placeOrder(t, base, alice, t2)

	// GET /api/orders: 401, 400, 200 newest first, only the caller's.
	if r := testkit.Call(t, "GET", base+"/api/orders", "", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("GET list without a token = %d", r.Status)
	}
	var list []apiclient.Order
	r = testkit.Call(t, "GET", base+"/api/orders", alice, nil)
	r.JSON(&list)
	if r.Status != http.StatusOK || len(list) != 2 || list[0].ID != a2.ID || list[1].ID != a1.ID {
		t.Errorf("alice's orders = %d %+v, want [%s %s]", r.Status, list, a2.ID, a1.ID)
	}
	r = testkit.Call(t, "GET", base+"/api/orders?limit=1", alice, nil)
	r.JSON(&list)
	if len(list) != 1 || list[0].ID != a2.ID {
		t.Errorf("limit=1: %+v", list)
	}
	r = testkit.Call(t, "GET", base+"/api/orders?limit=1&after="+a2.ID, alice, nil)
	r.JSON(&list)
	if len(list) != 1 || list[0].ID != a1.ID {
		t.Errorf("after: %+v", list)
	}
	for _, q := range []string{"limit=0", "limit=501", "limit=x"} {
		if r := testkit.Call(t, "GET", base+"/api/orders?"+q, alice, nil); r.Status != http.StatusBadRequest || r.ErrorField() != "limit" {
			t.Errorf("GET ?%s = %d %s", q, r.Status, r.Body)
		}
	}
	r = testkit.Call(t, "GET", base+"/api/orders", bob, nil)
	if r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != "[]" {
		t.Errorf("bob's orders = %d %s, want []", r.Status, r.Body)
	}

	// GET /api/orders/{id}: 200, 401, 403, 404.
	if got := getOrder(t, base, alice, a1.ID); !reflect.DeepEqual(got, a1) || fmt.Sprint(got.Causes()) != "[created]" {
		t.Errorf("GET = %+v, want %+v", got, a1)
	}
	for _, tc := range []struct {
		name, token, id string
		want            int
	}{
		{"no token", "", a1.ID, http.StatusUnauthorized},
		{"bad token", "garbage", a1.ID, http.StatusUnauthorized},
		{"another user's", bob, a1.ID, http.StatusForbidden},
		{"unknown", alice, "000000000000000000000000", http.StatusNotFound},
		{"malformed", alice, "%20nope", http.StatusNotFound},
	} {
		r := testkit.Call(t, "GET", base+"/api/orders/"+tc.id, tc.token, nil)
		if r.Status != tc.want {
			t.Errorf("GET %s = %d %s, want %d", tc.name, r.Status, r.Body, tc.want)
		} else {
			r.Errors() // the error shape, with a message
		}
	}

	// DELETE /api/orders/{id}: 401, 403, 404, 204, 204 again, 409 when complete.
	for _, tc := range []struct {
		name, token, id string
		want            int
	}{
		{"no token", "", a1.ID, http.StatusUnauthorized},
		{"another user's", bob, a1.ID, http.StatusForbidden},
		{"unknown", alice, "000000000000000000000000", http.StatusNotFound},
	} {
		if r := testkit.Call(t, "DELETE", base+"/api/orders/"+tc.id, tc.token, nil); r.Status != tc.want {
			t.Errorf("DELETE %s = %d %s, want %d", tc.name, r.Status, r.Body, tc.want)
		}
	}
	if getOrder(t, base, alice, a1.ID).Status != "created" {
		t.Fatal("a refused DELETE changed the order")
	}
	for range 2 {
		if r := testkit.Call(t, "DELETE", base+"/api/orders/"+a1.ID, alice, nil); r.Status != http.StatusNoContent || len(r.Body) != 0 {
			t.Fatalf("DELETE = %d %s, want 204", r.Status, r.Body)
		}
	}
	if got := getOrder(t, base, alice, a1.ID); got.Status != "cancelled" || got.Version != 1 {
		t.Errorf("cancelled order = %s v%d", got.Status, got.Version)
	}
	b1 := placeOrder(t, base, bob, t1) // the ticket was released

	h.publish(events.PaymentCreated{ID: "pay1", OrderID: a2.ID, StripeID: "pi_1"})
	testkit.Eventually(t, 10*time.Second, "order complete", func() bool {
		return getOrder(t, base, alice, a2.ID).Status == "complete"
	})
	r = testkit.Call(t, "DELETE", base+"/api/orders/"+a2.ID, alice, nil)
	if r.Status != http.StatusConflict {
		t.Errorf("DELETE of a complete order = %d %s, want 409", r.Status, r.Body)
	}
	if got := getOrder(t, base, alice, a2.ID); got.Status != "complete" || got.Version != 1 {
		t.Errorf("complete order after DELETE = %s v%d", got.Status, got.Version)
	}
	if r := testkit.Call(t, "PUT", base+"/api/orders/"+a2.ID, alice, map[string]string{}); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("PUT = %d, want 405", r.Status)
	}

	// The events, as the other services see them.
	evs := h.eventsOf(a1.ID)
	if got := subjects(evs); len(got) != 2 || got[0] != events.SubjectOrderCreated || got[1] != events.SubjectOrderCancelled {
		t.Fatalf("events of the cancelled order = %v", got)
	}
	var created events.OrderCreated
	if err := json.Unmarshal(evs[0].Data, &created); err != nil {
		t.Fatal(err)
	}
	seen := int64(0) // the version of the ticket the order saw: as listed
	want := events.OrderCreated{ID: a1.ID, Version: 0, Status: "created", UserID: "alice", ExpiresAt: a1.ExpiresAt,
		Ticket: events.TicketRef{ID: t1, PriceCents: 2010, Version: &seen}}
	if !created.ExpiresAt.Equal(want.ExpiresAt) || created.ID != want.ID || !reflect.DeepEqual(created.Ticket, want.Ticket) ||
		created.UserID != want.UserID || created.Status != want.Status || created.Version != 0 {
		t.Errorf("order.created = %+v, want %+v", created, want)
	}
	if evs[1].Version != 1 || evs[1].Ticket != t1 {
		t.Errorf("order.cancelled = %s", evs[1].Data)
	}
	if got := subjects(h.eventsOf(a2.ID)); len(got) != 2 || got[1] != events.SubjectOrderCompleted {
		t.Errorf("events of the paid order = %v", got)
	}
	if got := subjects(h.eventsOf(b1.ID)); len(got) != 1 || got[0] != events.SubjectOrderCreated {
		t.Errorf("events of bob's order = %v", got)
	}
}

func mustField(t *testing.T, body []byte, key string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m[key]
}

// ticket.updated v2 delivered before v1 (the tickets service announces its edits only, so
// versions may be skipped): v2 applies at once, v1 arriving late is dropped; each is acked
// once, and neither touches the hold.
func TestTicketUpdatedOutOfOrder(t *testing.T) {
	h := newHarness(t, nil)
	base := h.serve()
	alice := testkit.Token(t, "alice", "alice@example.com")
	id := h.ticket("v0", 1000)
	o := placeOrder(t, base, alice, id)

	acked0 := handled(t, events.SubjectTicketUpdated, "ack")
	h.publish(events.TicketUpdated{ID: id, Version: 2, Title: "v2", PriceCents: 3000, UserID: "seller"})
	r := h.waitReplica(id, 2)
	h.publish(events.TicketUpdated{ID: id, Version: 1, Title: "v1", PriceCents: 2000, UserID: "seller"})
	testkit.Eventually(t, 10*time.Second, "v1 acked", func() bool {
		return handled(t, events.SubjectTicketUpdated, "ack")-acked0 >= 2
	})
	waitHandled[events.TicketUpdated](h)
	r, _ = h.st.Replica(context.Background(), id)
	if r.Ticket.Title != "v2" || r.Ticket.PriceCents != 3000 || r.Ticket.Version != 2 {
		t.Errorf("replica = %+v, want v2", r.Ticket)
	}
	if got := handled(t, events.SubjectTicketUpdated, "ack") - acked0; got != 2 {
		t.Errorf("%v acks, want 2 (v2 and v1, once each)", got)
	}

	// Redeliveries of both (new event ids) change nothing.
	h.publish(events.TicketUpdated{ID: id, Version: 1, Title: "stale", PriceCents: 1, UserID: "seller"})
	h.publish(events.TicketUpdated{ID: id, Version: 2, Title: "stale", PriceCents: 1, UserID: "seller"})
	h.publish(events.TicketCreated{ID: id, Version: 0, Title: "stale", PriceCents: 1, UserID: "seller"})
	waitHandled[events.TicketUpdated](h)
	waitHandled[events.TicketCreated](h)
	r, _ = h.st.Replica(context.Background(), id)
	if r.Ticket.Title != "v2" || r.Ticket.Version != 2 {
		t.Errorf("a duplicate changed the replica: %+v", r.Ticket)
	}
	if r.Hold.OrderID != o.ID {
		t.Errorf("ticket events touched the hold: holder %q, want %q", r.Hold.OrderID, o.ID)
	}
	if res := testkit.Call(t, "POST", base+"/api/orders", alice, map[string]string{"ticketId": id}); res.Status != http.StatusConflict {
		t.Errorf("the hold did not survive the ticket's updates: POST = %d", res.Status)
	}
}

// payment.created and expiration.completed for one order, in both orders, and at once.
func TestPaymentAndExpiration(t *testing.T) {
	// A 1s window, and no sweeper in the way.
	h := newHarness(t, map[string]string{"EXPIRATION_WINDOW": "1s", "SWEEP_INTERVAL": "1h"})
	base := h.serve()
	alice := testkit.Token(t, "alice", "alice@example.com")

	expired := func(o apiclient.Order) {
		testkit.Eventually(t, 5*time.Second, "past expiresAt", func() bool { return time.Now().After(o.ExpiresAt) })
	}
	hold := func(ticket string) (string, time.Time) {
		r, err := h.st.Replica(context.Background(), ticket)
		if err != nil {
			t.Fatal(err)
		}
		return r.Hold.OrderID, r.Hold.Until
	}
	check := func(o apiclient.Order, ticket, wantStatus string) {
		t.Helper()
		got := getOrder(t, base, alice, o.ID)
		if got.Status != wantStatus || got.Version != 1 {
			t.Errorf("order = %s v%d, want %s v1", got.Status, got.Version, wantStatus)
		}
		holder, until := hold(ticket)
		switch wantStatus {
		case "complete":
			if holder != o.ID || !until.Equal(order.Forever) {
				t.Errorf("paid order's hold = %q until %v, want permanent", holder, until)
			}
			if r := testkit.Call(t, "POST", base+"/api/orders", alice, map[string]string{"ticketId": ticket}); r.Status != http.StatusConflict {
				t.Errorf("order for a sold ticket = %d", r.Status)
			}
		case "cancelled":
			if holder != "" {
				t.Errorf("cancelled order's ticket still held by %q", holder)
			}
		}
		evs := h.eventsOf(o.ID)
		want := map[string]string{"complete": events.SubjectOrderCompleted, "cancelled": events.SubjectOrderCancelled}[wantStatus]
		if got := subjects(evs); len(got) != 2 || got[0] != events.SubjectOrderCreated || got[1] != want {
			t.Errorf("events = %v, want order.created and %s only", got, want)
		}
	}

	t.Run("payment first", func(t *testing.T) {
		tk := h.ticket("A", 100)
		o := placeOrder(t, base, alice, tk)
		expired(o)
		h.publish(events.PaymentCreated{ID: "p-" + o.ID, OrderID: o.ID, StripeID: "pi"})
		waitHandled[events.PaymentCreated](h)
		h.publish(events.ExpirationCompleted{OrderID: o.ID})
		waitHandled[events.ExpirationCompleted](h)
		check(o, tk, "complete")
	})
	t.Run("expiry first", func(t *testing.T) {
		tk := h.ticket("B", 100)
		o := placeOrder(t, base, alice, tk)
		expired(o)
		h.publish(events.ExpirationCompleted{OrderID: o.ID})
		waitHandled[events.ExpirationCompleted](h)
		h.publish(events.PaymentCreated{ID: "p-" + o.ID, OrderID: o.ID, StripeID: "pi"})
		waitHandled[events.PaymentCreated](h)
		check(o, tk, "cancelled")
	})
	t.Run("both at once", func(t *testing.T) {
		var placed []apiclient.Order
		var tks []string
		for range 6 {
			tk := h.ticket("C", 100)
			tks = append(tks, tk)
			placed = append(placed, placeOrder(t, base, alice, tk))
		}
		expired(placed[len(placed)-1])
		for i, o := range placed {
			if i%2 == 0 {
				h.publish(events.PaymentCreated{ID: "p-" + o.ID, OrderID: o.ID, StripeID: "pi"})
				h.publish(events.ExpirationCompleted{OrderID: o.ID})
			} else {
				h.publish(events.ExpirationCompleted{OrderID: o.ID})
				h.publish(events.PaymentCreated{ID: "p-" + o.ID, OrderID: o.ID, StripeID: "pi"})
			}
		}
		waitHandled[events.PaymentCreated](h)
		waitHandled[events.ExpirationCompleted](h)
		outcomes := map[string]int{}
		for i, o := range placed {
			status := getOrder(t, base, alice, o.ID).Status
			outcomes[status]++
			check(o, tks[i], status)
		}
		t.Logf("outcomes: %v", outcomes)
	})
	t.Run("expiry before expiresAt waits", func(t *testing.T) {
		h2 := newHarness(t, map[string]string{"EXPIRATION_WINDOW": "3s", "SWEEP_INTERVAL": "1h"})
		base2 := h2.serve()
		tk := h2.ticket("D", 100)
		o := placeOrder(t, base2, alice, tk)
		notYet0 := handled(t, events.SubjectExpirationCompleted, "not_yet")
		h2.publish(events.ExpirationCompleted{OrderID: o.ID})
		testkit.Eventually(t, 5*time.Second, "early expiry put back", func() bool {
			return handled(t, events.SubjectExpirationCompleted, "not_yet") > notYet0
		})
		status := getOrder(t, base2, alice, o.ID).Status
		if time.Now().Before(o.ExpiresAt) && status != "created" {
			t.Fatalf("order %s before its expiresAt", status)
		}
		testkit.Eventually(t, 15*time.Second, "cancelled once expired", func() bool {
			return getOrder(t, base2, alice, o.ID).Status == "cancelled"
		})
		// The release follows the status change (cancel's second write).
		testkit.Eventually(t, 5*time.Second, "hold released", func() bool {
			r, err := h2.st.Replica(context.Background(), tk)
			return err == nil && r.Hold.OrderID == ""
		})
	})
}

// With no expiration service at all, the sweeper cancels an order whose 2s window ended,
// within its grace, and not before.
func TestSweeperCancelsExpiredOrders(t *testing.T) {
	h := newHarness(t, map[string]string{"EXPIRATION_WINDOW": "2s", "SWEEP_INTERVAL": "200ms", "SWEEP_GRACE": "1s"})
	base := h.serve()
	alice := testkit.Token(t, "alice", "alice@example.com")
	tk := h.ticket("Late", 700)
	o := placeOrder(t, base, alice, tk)
	due := o.ExpiresAt.Add(time.Second) // expiresAt + SWEEP_GRACE
	// Not before: the order stays created as long as the grace lasts.
	for time.Until(due) > 300*time.Millisecond {
		status := getOrder(t, base, alice, o.ID).Status
		if time.Now().Before(due) && status != "created" {
			t.Fatalf("order %s before expiresAt + SWEEP_GRACE", status)
		}
		time.Sleep(100 * time.Millisecond) // polling interval: the status is checked until the grace ends
	}
	// Then within one sweep interval, with slack for a loaded machine.
	testkit.Eventually(t, time.Until(due)+200*time.Millisecond+10*time.Second, "order cancelled by the sweeper", func() bool {
		return getOrder(t, base, alice, o.ID).Status == "cancelled"
	})
	t.Logf("cancelled %v after expiresAt", time.Since(o.ExpiresAt).Round(time.Millisecond))
	testkit.Eventually(t, 5*time.Second, "hold released", func() bool { // after the status change
		r, err := h.st.Replica(context.Background(), tk)
		return err == nil && r.Hold.OrderID == ""
	})
	if got := subjects(h.eventsOf(o.ID)); len(got) != 2 || got[1] != events.SubjectOrderCancelled {
		t.Errorf("events = %v", got)
	}
	placeOrder(t, base, alice, tk) // free again
}

package tickets_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/apiclient"
	"ticketing/common/bus"
	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/common/web"
	"ticketing/services/tickets"
)

// POST /api/tickets: 201 with version 0 and ticket.created on the bus; 400 naming the field;
// 401; and the JSON rules of the contract (413, malformed JSON, unknown fields).
func TestCreateTicket(t *testing.T) {
	h := start(t)
	alice := testkit.Token(t, "alice", "alice@example.com")

	t.Run("201", func(t *testing.T) {
		r := h.call("POST", "/api/tickets", alice, `{"title":"  Concert  ","price":20.1}`)
		r.Expect(http.StatusCreated, "", "")
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(r.Body, &raw); err != nil {
			t.Fatal(err)
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range raw {
				if !yield(k) {
					return
				}
			}
		})
		if !slices.Equal(keys, []string{"id", "price", "status", "title", "userId", "version"}) {
			t.Errorf("keys %v, want id, price, status, title, userId, version (orderId absent while free)", keys)
		}
		if string(raw["price"]) != "20.1" {
			t.Errorf("price written as %s, want 20.1", raw["price"])
		}
		tk := ticket(t, r)
		if tk.Title != "Concert" || tk.Price.Float() != 20.1 || tk.UserID != "alice" || tk.Version != 0 || tk.OrderID != nil || tk.Status != "available" {
			t.Errorf("created %+v", tk)
		}
		if _, err := bson.ObjectIDFromHex(tk.ID); err != nil {
			t.Errorf("id %q is not an ObjectID: %v", tk.ID, err)
		}
		if r.Header.Get("X-Request-Id") == "" {
			t.Error("no X-Request-Id")
		}
		if got := h.get(tk.ID); got != tk {
			t.Errorf("GET = %+v, want %+v", got, tk)
		}

		h.settled(tk.ID)
		msgs := h.rec.Of(tk.ID, events.SubjectTicketCreated)
		if len(msgs) != 1 {
			t.Fatalf("%d ticket.created events, want 1", len(msgs))
		}
		e, err := events.Decode[events.TicketCreated](msgs[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		want := events.TicketCreated{ID: tk.ID, Version: 0, Title: "Concert", PriceCents: 2010, UserID: "alice"}
		if e != want {
			t.Errorf("ticket.created %+v, want %+v", e, want)
		}
		hd := msgs[0].Header
		if hd.Get(bus.HeaderEventType) != events.SubjectTicketCreated || hd.Get(bus.HeaderEventSchema) != "1" ||
			hd.Get(bus.HeaderRequestID) != r.Header.Get("X-Request-Id") || hd.Get(bus.HeaderTraceParent) == "" {
			t.Errorf("event headers %v", hd)
		}
	})

	t.Run("prices convert exactly", func(t *testing.T) {
		for body, want := range map[string]float64{
			`{"title":"a","price":0.29}`:                             0.29,
			`{"title":"a","price":1000000}`:                          1000000,
			`{"title":"a","price":1.5e1}`:                            15,
			`{"title":"a","price":19.990}`:                           19.99,
			`{"price":0.01,"title":"a"}`:                             0.01,
			`{"title":"a","price":999999.99}`:                        999999.99,
			`{"title":"é","price":5}`:                                5,
			`{"title":"` + strings.Repeat("x", 200) + `","price":5}`: 5,
		} {
			r := h.call("POST", "/api/tickets", alice, body)
			r.Expect(http.StatusCreated, "", "")
			if tk := ticket(t, r); tk.Price.Float() != want {
				t.Errorf("%s: price %v, want %v", body, tk.Price, want)
			}
		}
	})

	t.Run("400", func(t *testing.T) {
		for _, tc := range []struct{ body, field, msg string }{
			{`{"price":10}`, "title", "Title is required"},
			{`{"title":"   ","price":10}`, "title", "Title is required"},
			{`{"title":null,"price":10}`, "title", "Title is required"},
			{`{"title":"` + strings.Repeat("x", 201) + `","price":10}`, "title", "at most 200"},
			{`{"title":"a\nb","price":10}`, "title", "control characters"},
			{`{"title":7,"price":10}`, "title", "must be a string"},
			{`{"title":"a"}`, "price", "Price is required"},
			{`{"title":"a","price":null}`, "price", "Price is required"},
			{`{"title":"a","price":0}`, "price", "greater than 0"},
			{`{"title":"a","price":-10}`, "price", "greater than 0"},
			{`{"title":"a","price":10.001}`, "price", "at most 2 decimals"},
			{`{"title":"a","price":1000000.01}`, "price", "at most 1000000"},
			{`{"title":"a","price":1e400}`, "price", "at most 1000000"},
			{`{"title":"a","price":"10"}`, "price", "must be a number"},
			{`{"title":"a","price":true}`, "price", "must be a number"},
			{`{"title":"a","price":10,"userId":"mallory"}`, "userId", "not a known field"},
			{`{}`, "title", "Title is required"},
			{`{}`, "price", "Price is required"},
			{`{"title":"a","price":10`, "", "not valid JSON"},
			{`[{"title":"a","price":10}]`, "", "JSON object"},
			{``, "", "required"},
			{`{"title":"a","price":10}{}`, "", "single JSON object"},
		} {
			h.call("POST", "/api/tickets", alice, tc.body).Expect(http.StatusBadRequest, tc.field, tc.msg)
		}
	})

	t.Run("401", func(t *testing.T) {
		h.call("POST", "/api/tickets", "", `{"title":"a","price":10}`).Expect(http.StatusUnauthorized, "", "")
		h.call("POST", "/api/tickets", "not-a-token", `{"title":"a","price":10}`).Expect(http.StatusUnauthorized, "", "")
	})

	t.Run("413 and 415", func(t *testing.T) {
		big := `{"title":"` + strings.Repeat("x", 1<<20) + `","price":10}`
		h.call("POST", "/api/tickets", alice, big).Expect(http.StatusRequestEntityTooLarge, "", "")
		r := h.api.Send(apiclient.Request{Method: "POST", Path: "/api/tickets", Auth: apiclient.Bearer(alice),
			Body: `{"title":"a","price":10}`, Header: http.Header{"Content-Type": {"text/plain"}}})
		if r.Status != http.StatusUnsupportedMediaType {
			t.Errorf("text/plain body: %d, want 415", r.Status)
		}
	})
}

// GET /api/tickets/{id}: 200, and 404 for an unknown or malformed id.
func TestGetTicket(t *testing.T) {
	h := start(t)
	alice := testkit.Token(t, "alice", "alice@example.com")
	tk := h.create(alice, "Concert", 12.5)

	if got := h.get(tk.ID); got != tk {
		t.Errorf("GET = %+v, want %+v", got, tk)
	}
	for _, id := range []string{bson.NewObjectID().Hex(), "nope", strings.ToUpper(tk.ID), tk.ID + "0", "%00"} {
		h.call("GET", "/api/tickets/"+id, "", nil).Expect(http.StatusNotFound, "", "Ticket not found")
	}
	h.call("DELETE", "/api/tickets/"+tk.ID, alice, nil).Expect(http.StatusMethodNotAllowed, "", "")
}

// GET /api/tickets: free tickets only, newest first, paged with limit and after.
func TestListTickets(t *testing.T) {
	h := start(t)
	alice := testkit.Token(t, "alice", "alice@example.com")

	r := h.call("GET", "/api/tickets", "", nil)
	r.Expect(http.StatusOK, "", "")
	if strings.TrimSpace(string(r.Body)) != "[]" {
		t.Errorf("empty list %s, want []", r.Body)
	}

	var made []apiclient.Ticket
	for i := range 5 {
		made = append(made, h.create(alice, fmt.Sprint("t", i), float64(i+1)))
	}
	// t1 reserved, t3 sold: neither is for sale.
	publish(h, orderCreated("o1", made[1].ID))
	publish(h, orderCreated("o3", made[3].ID))
	publish(h, orderCompleted("o3", made[3].ID))
	testkit.Eventually(t, 20*time.Second, "t1 reserved and t3 sold", func() bool {
		return h.get(made[1].ID).Version == 1 && h.get(made[3].ID).Version == 2
	})

	list := func(query string) []string {
		t.Helper()
		r := h.call("GET", "/api/tickets"+query, "", nil)
		r.Expect(http.StatusOK, "", "")
		var got []apiclient.Ticket
		if err := json.Unmarshal(r.Body, &got); err != nil {
			t.Fatal(err)
		}
		titles := []string{}
		for _, tk := range got {
			if tk.OrderID != nil {
				t.Errorf("listed %+v, which an order holds", tk)
			}
			titles = append(titles, tk.Title)
		}
		return titles
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"t4", "t2", "t0"}},
		{"/", []string{"t4", "t2", "t0"}},
		{"?limit=2", []string{"t4", "t2"}},
		{"?limit=2&after=" + made[2].ID, []string{"t0"}},
		{"?after=" + made[4].ID, []string{"t2", "t0"}},
		{"?after=" + strings.ToUpper(made[4].ID), []string{"t2", "t0"}},
		{"?after=" + made[0].ID, []string{}},
		{"?limit=500", []string{"t4", "t2", "t0"}},
	} {
		if got := list(tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("GET /api/tickets%s = %v, want %v", tc.query, got, tc.want)
		}
	}
	for _, q := range []string{"?limit=0", "?limit=501", "?limit=abc", "?limit=-1", "?limit=1.5"} {
		h.call("GET", "/api/tickets"+q, "", nil).Expect(http.StatusBadRequest, "limit", "limit must be")
	}
	h.call("GET", "/api/tickets?after=xyz", "", nil).Expect(http.StatusBadRequest, "after", "after must be")
}

// PUT /api/tickets/{id}: 200 with version + 1 and ticket.updated; 400; 401; 403 for another
// user; 404; 409 while an order holds the ticket or after it was sold.
func TestUpdateTicket(t *testing.T) {
	h := start(t)
	alice := testkit.Token(t, "alice", "alice@example.com")
	bob := testkit.Token(t, "bob", "bob@example.com")
	tk := h.create(alice, "Concert", 10)
	path := "/api/tickets/" + tk.ID

	r := h.call("PUT", path, alice, `{"title":" Opera ","price":20.05}`)
	r.Expect(http.StatusOK, "", "")
	got := ticket(t, r)
	want := apiclient.Ticket{ID: tk.ID, Title: "Opera", Price: "20.05", UserID: "alice", Version: 1, Status: "available"}
	if got != want {
		t.Fatalf("PUT = %+v, want %+v", got, want)
	}
	if g := h.get(tk.ID); g != want {
		t.Errorf("GET after PUT = %+v, want %+v", g, want)
	}
	h.settled(tk.ID)
	ups := h.updates(tk.ID)
	if len(ups) != 1 || ups[0] != (events.TicketUpdated{ID: tk.ID, Version: 1, Title: "Opera", PriceCents: 2005, UserID: "alice"}) {
		t.Fatalf("ticket.updated events %+v", ups)
	}

	h.call("PUT", path, alice, `{"title":"Opera","price":0}`).Expect(http.StatusBadRequest, "price", "greater than 0")
	h.call("PUT", path, alice, `{"title":"","price":5}`).Expect(http.StatusBadRequest, "title", "required")
	h.call("PUT", path, alice, `{"title":"Opera"}`).Expect(http.StatusBadRequest, "price", "required")
	h.call("PUT", path, "", `{"title":"Opera","price":5}`).Expect(http.StatusUnauthorized, "", "")
	h.call("PUT", path, bob, `{"title":"Mine now","price":5}`).Expect(http.StatusForbidden, "", "")
	h.call("PUT", "/api/tickets/"+bson.NewObjectID().Hex(), alice, `{"title":"Opera","price":5}`).Expect(http.StatusNotFound, "", "")
	h.call("PUT", "/api/tickets/nope", alice, `{"title":"Opera","price":5}`).Expect(http.StatusNotFound, "", "")

	// Reserved: 409, for the owner; another user still gets 403.
	publish(h, orderCreated("o1", tk.ID))
	testkit.Eventually(t, 20*time.Second, "the ticket is reserved", func() bool { return h.get(tk.ID).OrderID != nil })
	h.call("PUT", path, alice, `{"title":"Opera","price":5}`).Expect(http.StatusConflict, "", "Cannot edit a reserved ticket")
	h.call("PUT", path, bob, `{"title":"Opera","price":5}`).Expect(http.StatusForbidden, "", "")
	reserved := h.get(tk.ID)
	if reserved.Version != 2 || *reserved.OrderID != "o1" || reserved.Title != "Opera" || reserved.Status != "reserved" {
		t.Errorf("reserved ticket %+v", reserved)
	}

	// Sold: still 409.
	publish(h, orderCompleted("o1", tk.ID))
	h.handled(events.SubjectOrderCompleted)
	h.call("PUT", path, alice, `{"title":"Opera","price":5}`).Expect(http.StatusConflict, "", "Cannot edit a reserved ticket")
	if sold := h.get(tk.ID); sold.Version != 3 || *sold.OrderID != "o1" || sold.Status != "sold" {
		t.Errorf("sold ticket %+v", sold)
	}

	h.settled(tk.ID)
	if got := versionsOf(h.updates(tk.ID)); !slices.Equal(got, oneToN(1)) {
		t.Errorf("ticket.updated versions %v, want 1: refused edits, the reservation and the sale publish nothing", got)
	}
}

// 20 concurrent PUTs by the owner: each 200 has its own version, the last version is the
// number of 200s, and exactly that many ticket.updated events reach the bus, versions 1..N,
// each carrying the price of the PUT that made it.
func TestConcurrentUpdates(t *testing.T) {
	h := start(t)
	alice := testkit.Token(t, "alice", "alice@example.com")
	tk := h.create(alice, "Concert", 1)

	const n = 20
	var wg sync.WaitGroup
	results := make([]testkit.Reply, n)
	release := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-release
			results[i] = h.call("PUT", "/api/tickets/"+tk.ID, alice, fmt.Sprintf(`{"title":"Concert","price":%d}`, 100+i))
		})
	}
	close(release)
	wg.Wait()

	priceOf := map[int64]float64{} // version -> price of the PUT that made it
	for i, r := range results {
		r.Expect(http.StatusOK, "", "")
		got := ticket(t, r)
		if got.Price.Float() != float64(100+i) {
			t.Errorf("PUT %d answered price %v", i, got.Price)
		}
		if _, dup := priceOf[got.Version]; dup {
			t.Fatalf("two PUTs answered version %d", got.Version)
		}
		priceOf[got.Version] = got.Price.Float()
	}
	final := h.get(tk.ID)
	if final.Version != int64(len(priceOf)) {
		t.Fatalf("final version %d, want %d (the number of 200s)", final.Version, len(priceOf))
	}
	if final.Price.Float() != priceOf[final.Version] {
		t.Errorf("final price %v, want %v (the PUT of the last version)", final.Price, priceOf[final.Version])
	}

	h.settled(tk.ID)
	ups := h.updates(tk.ID)
	vs := versionsOf(ups)
	slices.Sort(vs)
	if !slices.Equal(vs, oneToN(len(priceOf))) {
		t.Fatalf("ticket.updated versions %v, want each of 1..%d once", vs, len(priceOf))
	}
	for _, e := range ups {
		if float64(e.PriceCents)/100 != priceOf[e.Version] {
			t.Errorf("ticket.updated version %d has %d cents, the PUT answered %v", e.Version, e.PriceCents, priceOf[e.Version])
		}
	}
}

// The order events, through the bus, none of which publishes anything: order.created
// reserves (once, however often it comes),
// order.cancelled from another order changes nothing, the holder's releases, a late
// order.created of a cancelled order does nothing, order.created of the next order waits
// for the previous holder's release, order.completed sells, and an impossible event is
// dead-lettered.
func TestOrderEvents(t *testing.T) {
	h := start(t)
	alice := testkit.Token(t, "alice", "alice@example.com")
	tk := h.create(alice, "Concert", 10)
	id := tk.ID
	expect := func(version int64, holder string) {
		t.Helper()
		got := h.get(id)
		gotHolder := ""
		if got.OrderID != nil {
			gotHolder = *got.OrderID
		}
		if got.Version != version || gotHolder != holder {
			t.Fatalf("ticket at version %d held by %q, want %d and %q", got.Version, gotHolder, version, holder)
		}
	}
	// Reservations, releases and sales make new versions but announce none: only edits
	// publish ticket.updated.
	expectNoEvents := func() {
		t.Helper()
		h.settled(id)
		if ups := h.updates(id); len(ups) != 0 {
			t.Fatalf("ticket.updated versions %v orderIds %v, want none", versionsOf(ups), orderIDs(ups))
		}
	}

	// step publishes evs and waits until the service handled every subject they are on.
	step := func(evs ...events.Event) {
		t.Helper()
		var subjects []string
		for _, e := range evs {
			publish(h, e)
			if !slices.Contains(subjects, e.Subject()) {
				subjects = append(subjects, e.Subject())
			}
		}
		for _, s := range subjects {
			h.handled(s)
		}
	}

	// A duplicate order.created (a redelivery with a new event id) reserves once.
	step(orderCreated("o1", id), orderCreated("o1", id))
	expect(1, "o1")
	expectNoEvents()

	// order.cancelled from another order than the holder changes nothing.
	step(orderCancelled("o2", id))
	expect(1, "o1")
	expectNoEvents()

	// The holder's cancellation releases, once.
	step(orderCancelled("o1", id), orderCancelled("o1", id))
	expect(2, "")
	expectNoEvents()

	// order.created of cancelled orders, arriving late or again, reserves nothing.
	step(orderCreated("o1", id), orderCreated("o2", id))
	expect(2, "")

	// o3 reserves; o4's order.created arrives before o3's order.cancelled: it waits for it.
	step(orderCreated("o3", id))
	expect(3, "o3")
	// (and o4 is paid before its reservation was applied)
	step(orderCreated("o4", id), orderCompleted("o4", id), orderCancelled("o3", id))
	expect(6, "o4")
	h.call("PUT", "/api/tickets/"+id, alice, `{"title":"Concert","price":5}`).Expect(http.StatusConflict, "", "reserved")
	expectNoEvents()

	// Sold for good: the buyer's order events, again, are no-ops.
	step(orderCompleted("o4", id), orderCancelled("o4", id), orderCreated("o4", id))
	expect(6, "o4")
	expectNoEvents()

	// An order that completes after it was cancelled can never apply: dead letter, at once.
	step(orderCompleted("o1", id))
	dl, err := h.bus.Conn.JS.Stream(t.Context(), h.bus.Conn.Topology.Stream(events.StreamDeadLetter))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := dl.GetLastMsgForSubject(t.Context(), h.bus.Conn.Topology.DeadLetterSubject(events.Durable("tickets", events.SubjectOrderCompleted)))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	if !strings.Contains(string(msg.Data), `"o1"`) || !strings.Contains(msg.Header.Get(bus.HeaderDLReason), "contradicts") {
		t.Errorf("dead letter %s, reason %q", msg.Data, msg.Header.Get(bus.HeaderDLReason))
	}
	expect(6, "o4")
}

// The relay dies between publishing a ticket's events and removing them from its outbox,
// at every attempt, then its instance stops; another instance's relay takes the outbox over.
// Each change still ends as exactly one event on the bus: JetStream drops the republished ids.
func TestRelayKilledBetweenPublishAndRemoval(t *testing.T) {
	h := newHarness(t)
	var kills atomic.Int64
	urlA, stopA := h.serve(func(string) error {
		kills.Add(1)
		return errKilled
	})
	h.setURL(urlA, stopA)
	alice := testkit.Token(t, "alice", "alice@example.com")

	// Three changes on instance A: created and two edits.
	tk := h.create(alice, "Concert", 10)
	h.call("PUT", "/api/tickets/"+tk.ID, alice, `{"title":"Concert","price":11}`).Expect(http.StatusOK, "", "")
	h.call("PUT", "/api/tickets/"+tk.ID, alice, `{"title":"Concert","price":12}`).Expect(http.StatusOK, "", "")

	// A's relay publishes, dies before the removal, and its polls publish the same events
	// again: at least three rounds more than the changes.
	testkit.Eventually(t, 20*time.Second, "the killed relay republishes", func() bool { return kills.Load() >= 6 })
	if n := h.outboxLen(tk.ID); n != 3 {
		t.Fatalf("outbox holds %d events, want 3: the relay never got to remove them", n)
	}
	h.rec.CaughtUp()
	if got := len(h.rec.Of(tk.ID, events.SubjectTicketCreated)) + len(h.updates(tk.ID)); got != 3 {
		t.Fatalf("%d events on the bus after %d publishes, want 3", got, kills.Load())
	}

	// A stops (its last flush dies too); instance B starts and its relay's poll takes over.
	stopA()
	h.setURL(h.serve(nil))
	h.settled(tk.ID)
	if got := len(h.rec.Of(tk.ID, events.SubjectTicketCreated)); got != 1 {
		t.Errorf("%d ticket.created events, want 1", got)
	}
	if got := versionsOf(h.updates(tk.ID)); !slices.Equal(got, oneToN(2)) {
		t.Errorf("ticket.updated versions %v, want 1, 2", got)
	}
	info, err := h.rec.Stream().Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 {
		t.Errorf("the stream stored %d messages after %d publishes, want 3", info.State.Msgs, kills.Load())
	}

	// B carries on: the next change is published once and removed.
	h.call("PUT", "/api/tickets/"+tk.ID, alice, `{"title":"Concert","price":13}`).Expect(http.StatusOK, "", "")
	h.settled(tk.ID)
	if got := versionsOf(h.updates(tk.ID)); !slices.Equal(got, oneToN(3)) {
		t.Errorf("ticket.updated versions %v, want 1..3", got)
	}
}

// at is h speaking to the replica at url.
func (h *harness) at(url string) *harness {
	c := *h
	c.setURL(url, nil)
	return &c
}

// listed is the free tickets of the first page of h's listing, by id.
func (h *harness) listed() map[string]apiclient.Ticket {
	h.t.Helper()
	var got []apiclient.Ticket
	h.call("GET", "/api/tickets?limit=500", "", nil).Want(http.StatusOK).JSON(&got)
	out := map[string]apiclient.Ticket{}
	for _, tk := range got {
		out[tk.ID] = tk
	}
	return out
}

// listingTTL is the tickets service's default LISTING_CACHE_TTL.
func listingTTL(t *testing.T, h *harness) time.Duration {
	t.Helper()
	cfg, err := tickets.LoadConfig(config.FromMap(h.env))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.ListingCacheTTL
}

// shows waits until see answers true, and fails if an answer to a request sent ttl or more
// after since (when the change was stored) is still false: a change shows within the TTL,
// on every replica. It returns how long after since the change showed.
func shows(t *testing.T, since time.Time, ttl time.Duration, what string, see func() bool) time.Duration {
	t.Helper()
	deadline := since.Add(ttl + 30*time.Second) // bounds the loop even if every request is slow
	for {
		sent := time.Now()
		if see() {
			return sent.Sub(since)
		}
		if sent.Sub(since) >= ttl {
			t.Fatalf("%s: not shown by a request sent %s after the change (the bound is %s)", what, sent.Sub(since).Round(time.Millisecond), ttl)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not shown in %s", what, ttl+30*time.Second)
		}
		time.Sleep(5 * time.Millisecond) // the pace of the polling, not a wait for the change
	}
}

// A change made through one replica shows in the other replica's listing and ticket page
// within LISTING_CACHE_TTL (at most 1 s), though that replica had the old answer cached: a
// new ticket, an edit, and a reservation by an order event (consumed by either replica).
func TestListingAcrossReplicas(t *testing.T) {
	h := newHarness(t)
	urlA, _ := h.serve(nil)
	urlB, _ := h.serve(nil)
	a, b := h.at(urlA), h.at(urlB)
	ttl := listingTTL(t, h)
	if ttl > time.Second {
		t.Fatalf("LISTING_CACHE_TTL defaults to %s, above 1s", ttl)
	}
	alice := testkit.Token(t, "alice", "alice@example.com")
	old := a.create(alice, "Old", 5)
	shows(t, time.Now(), ttl, "setup", func() bool { _, ok := b.listed()[old.ID]; return ok })

	// B's listing and B's page of old are cached now; the changes go through A.
	b.listed()
	b.get(old.ID)
	tk := a.create(alice, "Concert", 10)
	since := time.Now()
	d := shows(t, since, ttl, "a ticket created through A, in B's listing", func() bool { _, ok := b.listed()[tk.ID]; return ok })
	t.Logf("created through A: in B's listing after %s", d)

	a.call("PUT", "/api/tickets/"+old.ID, alice, `{"title":"Edited","price":6}`).Want(http.StatusOK)
	since = time.Now()
	d = shows(t, since, ttl, "an edit through A, in B's listing", func() bool { return b.listed()[old.ID].Title == "Edited" })
	t.Logf("edited through A: in B's listing after %s", d)
	shows(t, since, ttl, "an edit through A, on B's ticket page", func() bool { return b.get(old.ID).Version == 1 })

	b.listed()
	publish(h, orderCreated("o1", tk.ID))
	h.handled(events.SubjectOrderCreated)
	since = time.Now()
	for _, r := range []*harness{a, b} {
		d = shows(t, since, ttl, "a reservation, in the listing of "+r.url, func() bool { _, ok := r.listed()[tk.ID]; return !ok })
		t.Logf("reserved: gone from %s after %s", r.url, d)
		shows(t, since, ttl, "a reservation, on the ticket page of "+r.url, func() bool { return r.get(tk.ID).Status == "reserved" })
	}
}

// GET /api/tickets and GET /api/tickets/{id}: an ETag, public for a second, and 304 to
// If-None-Match while nothing changed; a change (here through the same replica: at once)
// gives a new ETag. Errors and writes are not kept.
func TestListingConditionalGet(t *testing.T) {
	h := start(t)
	alice := testkit.Token(t, "alice", "alice@example.com")
	tk := h.create(alice, "Concert", 10)

	for _, path := range []string{"/api/tickets", "/api/tickets?limit=2", "/api/tickets/" + tk.ID} {
		r := h.call("GET", path, "", nil).Want(http.StatusOK)
		etag := r.Header.Get("ETag")
		if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
			t.Fatalf("GET %s: ETag %q", path, etag)
		}
		if cc := r.Header.Get("Cache-Control"); cc != web.CachePublic {
			t.Errorf("GET %s: Cache-Control %q, want %q", path, cc, web.CachePublic)
		}
		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
			nm := h.callWith(path, inm)
			if nm.Status != http.StatusNotModified || len(nm.Body) != 0 || nm.Header.Get("ETag") != etag || nm.Header.Get("Cache-Control") != web.CachePublic {
				t.Errorf("GET %s, If-None-Match %s: %d %q %v, want an empty 304 with the ETag", path, inm, nm.Status, nm.Body, nm.Header)
			}
		}
		if r2 := h.callWith(path, `"other"`); r2.Status != http.StatusOK || string(r2.Body) != string(r.Body) {
			t.Errorf("GET %s, If-None-Match another tag: %d %s", path, r2.Status, r2.Body)
		}

		h.call("PUT", "/api/tickets/"+tk.ID, alice, fmt.Sprintf(`{"title":"Concert","price":%d}`, 11+len(path))).Want(http.StatusOK)
		changed := h.callWith(path, etag)
		if changed.Status != http.StatusOK || changed.Header.Get("ETag") == etag {
			t.Errorf("GET %s after an edit, If-None-Match the old ETag: %d, ETag %q", path, changed.Status, changed.Header.Get("ETag"))
		}
	}

	for _, r := range []testkit.Reply{
		h.call("GET", "/api/tickets/nope", "", nil),
		h.call("GET", "/api/tickets?limit=0", "", nil),
		h.call("POST", "/api/tickets", alice, map[string]any{"title": "New", "price": 1}),
		h.call("PUT", "/api/tickets/"+tk.ID, alice, `{"title":"Concert","price":1}`),
	} {
		if cc := r.Header.Get("Cache-Control"); cc != web.CacheNone {
			t.Errorf("%d %s: Cache-Control %q, want %q", r.Status, r.Body, cc, web.CacheNone)
		}
	}
}

// callWith sends GET path with If-None-Match inm.
func (h *harness) callWith(path, inm string) testkit.Reply {
	h.t.Helper()
	return h.api.Send(apiclient.Request{Method: "GET", Path: path, Header: http.Header{"If-None-Match": {inm}}})
}

// Readers of both replicas' listings and ticket pages while edits go through both replicas
// and order events reserve and release the tickets (a late order.created of a cancelled
// order among them), run with -race: no reader of a replica ever sees a ticket go back to an
// older version, nothing listed is held by an order, and once the writes are done every
// replica shows the last versions within the TTL.
func TestListingReadersDuringWrites(t *testing.T) {
	h := newHarness(t)
	urlA, _ := h.serve(nil)
	urlB, _ := h.serve(nil)
	replicas := []*harness{h.at(urlA), h.at(urlB)}
	ttl := listingTTL(t, h)
	alice := testkit.Token(t, "alice", "alice@example.com")
	const n = 4
	ids := make([]string, n)
	for i := range ids {
		ids[i] = replicas[i%2].create(alice, fmt.Sprint("t", i), 10).ID
	}

	stop := make(chan struct{})
	var reads atomic.Int64
	var readers sync.WaitGroup
	for r := range 16 {
		readers.Go(func() {
			rep := replicas[r%2]
			seen := map[string]int64{} // where + ticket -> highest version this reader saw there on rep
			saw := func(tk apiclient.Ticket, where string) {
				k := where + " " + tk.ID
				if tk.Version < seen[k] {
					t.Errorf("%s of %s: ticket %s at version %d after %d", where, rep.url, tk.ID, tk.Version, seen[k])
				}
				seen[k] = max(seen[k], tk.Version)
			}
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				if k%2 == 0 {
					for _, tk := range rep.listed() {
						if tk.OrderID != nil {
							t.Errorf("the listing of %s shows %+v, held by an order", rep.url, tk)
						}
						saw(tk, "listing")
					}
				} else {
					saw(rep.get(ids[k%n]), "page")
				}
				reads.Add(1)
			}
		})
	}

	var writers sync.WaitGroup
	for i, id := range ids {
		writers.Go(func() {
			rep := replicas[i%2]
			for e := range 10 {
				r := rep.call("PUT", "/api/tickets/"+id, alice, fmt.Sprintf(`{"title":"t%d","price":%d}`, i, 11+e))
				if r.Status != http.StatusOK && r.Status != http.StatusConflict { // 409: reserved meanwhile
					t.Errorf("PUT: %d %s", r.Status, r.Body)
				}
			}
		})
		writers.Go(func() {
			for o := range 3 {
				order := fmt.Sprintf("o%d-%d", i, o)
				publish(h, orderCreated(order, id))
				publish(h, orderCancelled(order, id))
				publish(h, orderCreated(order, id)) // late: the order was cancelled
			}
		})
	}
	writers.Wait()
	h.handled(events.SubjectOrderCreated)
	h.handled(events.SubjectOrderCancelled)
	since := time.Now()
	close(stop)
	readers.Wait()

	type stored struct {
		Title   string `bson:"title"`
		Version int64  `bson:"version"`
		OrderID string `bson:"orderId"`
	}
	final := map[string]stored{}
	for _, id := range ids {
		d := testkit.Stored[stored](t, h.db.Collection("tickets"), id)
		if d.OrderID != "" {
			t.Errorf("ticket %s after the writes: %+v, want free (every order was cancelled)", id, d)
		}
		final[id] = d
	}
	for _, rep := range replicas {
		shows(t, since, ttl, "the last versions in the listing and the pages of "+rep.url, func() bool {
			got := rep.listed()
			for _, id := range ids {
				page := rep.get(id)
				if got[id].Version != final[id].Version || got[id].Title != final[id].Title || page.Version != final[id].Version {
					return false
				}
			}
			return true
		})
	}
	t.Logf("%d reads during the writes", reads.Load())
}

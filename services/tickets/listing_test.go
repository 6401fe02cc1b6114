package tickets_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/apiclient"
	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/common/web"
	"ticketing/services/tickets"
)

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
		var d stored
		if err := h.db.Collection("tickets").FindOne(t.Context(), bson.M{"_id": id}).Decode(&d); err != nil {
			t.Fatal(err)
		}
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

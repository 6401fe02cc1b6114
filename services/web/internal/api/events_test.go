package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"ticketing/services/web/internal/app"
)

// seedEvent adds an event of seller opening at onSale with n tickets, and returns its id.
func seedEvent(f *fakeAPI, id, seller string, onSale time.Time, n int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, app.Event{ID: id, Title: "Gala", UserID: seller, OnSaleAt: onSale, TicketCount: n,
		Price: "30", MaxPerUser: 2, AdmitPerMinute: 60})
	for i := 1; i <= n; i++ {
		t := ticketOf(fmt.Sprintf("%s-t%d", id, i), seller)
		t.Title, t.EventID = fmt.Sprintf("Gala #%d", i), id
		f.tickets = append(f.tickets, t)
	}
	return id
}

// An on-sale through the storefront: the events list leads to the event; signed out, Join
// goes through sign-in and back; the visitor waits with a countdown to the sale, sees their
// place once the line is drawn, and when the waiting room admits them the pass it sets as a
// cookie reaches the browser and, from there, the order the storefront places; without the
// pass the order is refused on the same page.
func TestEventPages(t *testing.T) {
	f, h := storefront(t)
	t.Cleanup(func() {
		if f.refused > 0 {
			t.Errorf("the API refused the session cookie of %d of the storefront's calls as cross-site", f.refused)
		}
	})
	f.users["seller@example.com"] = "u9"
	ev := seedEvent(f, "e1", "u9", time.Now().Add(time.Hour), 3)
	page := "/events/" + ev
	buyer := newBrowser(t, h)

	expect(t, buyer.do("GET", "/events", nil), 200, `data-testid="nav-events"`, `data-testid="event-card"`,
		`href="`+page+`"`, `data-testid="event-onsale-at"`, `data-testid="event-free">3<`)
	rec := buyer.do("GET", page, nil)
	expect(t, rec, 200, `data-testid="event-title">Gala<`, `data-testid="event-free">3<`, `data-testid="event-price">$30.00<`,
		`data-testid="sale-countdown"`, `data-testid="join-queue">Sign in to join the queue<`, `data-opens-at="20`)
	if strings.Contains(rec.Body.String(), `data-testid="queue-status"`) {
		t.Fatal("a signed-out visitor is shown a place")
	}

	// Signed out, Join sends to sign in, which comes back to the event.
	rec = buyer.do("POST", page+"/join", url.Values{})
	expect(t, rec, http.StatusSeeOther)
	if loc := rec.Header().Get("Location"); loc != "/signin?next="+url.QueryEscape(page) {
		t.Fatalf("Join signed out sends to %q", loc)
	}
	rec = buyer.do("POST", "/signup", url.Values{"email": {"buyer@example.com"}, "password": {"password2"}, "next": {page}})
	if expect(t, rec, http.StatusSeeOther); rec.Header().Get("Location") != page {
		t.Fatalf("signing up lands on %q", rec.Header().Get("Location"))
	}
	expect(t, buyer.do("GET", page, nil), 200, `data-testid="join-queue">Join the queue<`)

	// Joining before the sale: waiting, no position yet, a countdown, and a page that
	// refreshes by itself even without its script.
	rec = buyer.do("POST", page+"/join", url.Values{})
	if expect(t, rec, http.StatusSeeOther); rec.Header().Get("Location") != page {
		t.Fatalf("joining lands on %q", rec.Header().Get("Location"))
	}
	rec = buyer.do("GET", page, nil)
	expect(t, rec, 200, `data-testid="queue-status" aria-live="polite">waiting<`, `data-testid="queue-position">–<`,
		`data-testid="queue-ahead">–<`, `data-testid="queue-wait">`, `data-testid="sale-countdown"`,
		`<noscript><meta http-equiv="refresh" content="10"></noscript>`, `<p class="note" data-when="early">`)
	if strings.Contains(rec.Body.String(), `data-testid="join-queue"`) {
		t.Fatal("a visitor in the waiting room is offered Join")
	}
	// Not admitted yet, the tickets page sends back to the event.
	rec = buyer.do("GET", page+"/tickets", nil)
	if expect(t, rec, http.StatusSeeOther); rec.Header().Get("Location") != page {
		t.Fatalf("the tickets page before admission sends to %q", rec.Header().Get("Location"))
	}

	// The line drawn: position, people ahead, estimated wait; then closed, which says so.
	f.setPlace(ev, "u1", app.QueueWaiting, 3)
	expect(t, buyer.do("GET", page, nil), 200, `data-testid="queue-position">3<`, `data-testid="queue-ahead">2<`,
		`data-testid="queue-wait">about 3 s<`)
	f.setPlace(ev, "u1", app.QueueClosed, 3)
	expect(t, buyer.do("GET", page, nil), 200, `data-testid="queue-status" aria-live="polite">closed<`,
		`<p class="note" data-when="closed" data-testid="queue-closed">No ticket of this event is free`)

	// Admitted: the page leads on to the tickets, and the pass reaches the browser.
	f.setPlace(ev, "u1", app.QueueAdmitted, 0)
	expect(t, buyer.do("GET", page, nil), 200, `data-testid="event-tickets"`)
	if buyer.cookies[app.QueuePassCookie] != passOf("u1", ev) {
		t.Fatalf("the browser's cookies after admission: %v", buyer.cookies)
	}
	rec = buyer.do("GET", page+"/tickets", nil)
	expect(t, rec, 200, `data-testid="event-ticket"`, `data-testid="buy"`, "Gala #1", `data-testid="pass-expires-at"`)
	if n := strings.Count(rec.Body.String(), `data-testid="event-ticket"`); n != 3 {
		t.Fatalf("%d tickets listed, want 3", n)
	}
	rec = buyer.do("POST", page+"/buy", url.Values{"ticket": {ev + "-t1"}})
	expect(t, rec, http.StatusSeeOther)
	order := rec.Header().Get("Location")
	if !strings.HasPrefix(order, "/orders/") {
		t.Fatalf("buying lands on %q", order)
	}
	expect(t, buyer.do("GET", order, nil), 200, `data-testid="order-status" aria-live="polite">created<`, "Gala #1")
	expect(t, buyer.do("GET", page, nil), 200, `data-testid="event-free">2<`)

	// Without the pass the order is refused, on the tickets page; a taken ticket likewise.
	delete(buyer.cookies, app.QueuePassCookie)
	expect(t, buyer.do("POST", page+"/buy", url.Values{"ticket": {ev + "-t2"}}), http.StatusForbidden,
		"Queue pass required", `data-testid="event-ticket"`)
	expect(t, buyer.do("POST", page+"/buy", url.Values{"ticket": {ev + "-t1"}}), http.StatusConflict, "Ticket is already reserved")
	expect(t, buyer.do("POST", page+"/buy", url.Values{}), http.StatusBadRequest, "Choose a ticket.")
	// The ticket pages of an event's tickets lead to its waiting room, and buy with the pass.
	expect(t, buyer.do("GET", "/tickets/"+ev+"-t2", nil), 200, `data-testid="ticket-event"`, `href="`+page+`"`)
	rec = buyer.do("POST", "/tickets/"+ev+"-t2/buy", url.Values{})
	if expect(t, rec, http.StatusSeeOther); !strings.HasPrefix(rec.Header().Get("Location"), "/orders/") {
		t.Fatalf("Buy on the ticket page with the pass lands on %q", rec.Header().Get("Location"))
	}

	// The seller is not offered the waiting room of their own event.
	seller := newBrowser(t, h)
	expect(t, seller.do("POST", "/signin", url.Values{"email": {"seller@example.com"}, "password": {"password9"}}), http.StatusSeeOther)
	rec = seller.do("GET", page, nil)
	expect(t, rec, 200, "You are selling this event.")
	if strings.Contains(rec.Body.String(), `data-testid="join-queue"`) {
		t.Fatal("the seller is offered Join")
	}
}

// Joining when the waiting room admits at once lands on the tickets; an event the waiting
// room has not heard of yet says to try again; an unknown event is a 404 page.
func TestEventJoinOutcomes(t *testing.T) {
	f, h := storefront(t)
	open := seedEvent(f, "e1", "u9", time.Now().Add(-time.Minute), 2)
	fresh := seedEvent(f, "e2", "u9", time.Now().Add(time.Minute), 2)
	f.queueAwaits[fresh] = true
	f.admitOnJoin = true
	b := newBrowser(t, h)
	expect(t, b.do("POST", "/signup", url.Values{"email": {"ann@example.com"}, "password": {"password1"}}), http.StatusSeeOther)

	rec := b.do("POST", "/events/"+open+"/join", url.Values{})
	if expect(t, rec, http.StatusSeeOther); rec.Header().Get("Location") != "/events/"+open+"/tickets" {
		t.Fatalf("admitted at once, joining lands on %q", rec.Header().Get("Location"))
	}
	if b.cookies[app.QueuePassCookie] == "" {
		t.Fatal("joining admitted did not hand the browser its pass")
	}
	rec = b.do("GET", "/events/"+open, nil)
	expect(t, rec, 200, `data-testid="event-tickets"`)
	if strings.Contains(rec.Body.String(), `data-testid="sale-countdown"`) || strings.Contains(rec.Body.String(), "<noscript>") {
		t.Fatal("an open sale shows a countdown, or an admitted visitor's page refreshes itself")
	}

	expect(t, b.do("POST", "/events/"+fresh+"/join", url.Values{}), http.StatusConflict, "not open yet", `data-testid="join-queue"`)
	expect(t, b.do("GET", "/events/nope", nil), 404, "Event not found")
	expect(t, b.do("POST", "/events/nope/join", url.Values{}), 404)
	expect(t, b.do("GET", "/events/nope/tickets", nil), 404)
}

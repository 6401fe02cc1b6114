package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"ticketing/common/apiclient"
)

// TestStorefrontEvent: an on-sale through the storefront in a real browser (headless
// Chromium). A seller puts an event on sale that opens in a moment, admitting one buyer a
// second; a visitor finds it among the events, presses Join signed out, signs up on the way
// and comes back, joins, and waits with a countdown to the sale; when the sale opens the
// waiting room admits them, the page moves on to the event's tickets by itself, and Buy
// (the queue pass going with the order) lands on the order. The waiting room's and the
// tickets' screenshots are written to STOREFRONT_SCREENSHOTS when set (`make screenshots`).
func TestStorefrontEvent(t *testing.T) {
	s := startStorefrontStack(t, nil)
	api := newClient(t, s.URL)
	seller := api.signup("event-seller@example.com")

	// The sale opens 25 s from now: time for the visitor to sign up and join before it opens
	// on a loaded machine; the test waits on what the pages show, not on the clock.
	opens := time.Now().Add(25 * time.Second).UTC()
	var ev apiclient.Event
	api.Must(http.StatusCreated, "POST", "/api/events", seller.Token, map[string]any{
		"title": "Winter gala", "onSaleAt": opens.Format(time.RFC3339Nano),
		"tickets": map[string]any{"count": 4, "price": 30}, "maxPerUser": 2, "admitPerMinute": 60,
	}).Strict(&ev)
	page := "/events/" + ev.ID

	b := newBrowser(t, s.URL)
	buyer := b.newUser()
	buyer.open("/")
	buyer.submit("nav-events")
	buyer.waitText("event-title", 10*time.Second, equals("Winter gala"), "the event listed")
	buyer.submit("event-title")
	if p := buyer.path(); p != page {
		t.Fatalf("the event's link leads to %s, want %s", p, page)
	}
	if got := buyer.text("event-free"); got != "4" {
		t.Errorf("free tickets shown as %q", got)
	}
	if buyer.text("event-onsale-at") == "" || !strings.Contains(buyer.text("sale-countdown"), ":") {
		t.Fatalf("the on-sale time %q, countdown %q", buyer.text("event-onsale-at"), buyer.text("sale-countdown"))
	}

	// Signed out, Join goes through sign-up and back to the event.
	buyer.submit("join-queue")
	if p := buyer.path(); p != "/signin?next="+url.QueryEscape(page) {
		t.Fatalf("signed-out Join lands on %s", p)
	}
	buyer.signUpBack("event-buyer@example.com", page)

	// Join: the waiting room may learn of the event a moment after it was created (the page
	// says so), then the visitor waits, with no place in line before the sale.
	buyer.eventually(30*time.Second, "in the waiting room", func() bool {
		if buyer.has("join-queue") {
			buyer.submit("join-queue")
		}
		return buyer.text("queue-status") == "waiting"
	})
	if got := buyer.text("queue-position"); got != "–" {
		t.Errorf("before the sale the position shows %q", got)
	}
	first := buyer.text("sale-countdown")
	if !strings.Contains(first, ":") || !time.Now().Before(opens) {
		t.Fatalf("waiting before the sale, the countdown shows %q (the sale opens at %s)", first, opens)
	}
	buyer.waitText("sale-countdown", 10*time.Second, func(s string) bool { return s != first && strings.Contains(s, ":") }, "the countdown ticking")
	buyer.screenshot("event-waiting")

	// The sale opens: the page follows the place by itself and moves on to the tickets.
	buyer.eventually(90*time.Second, "admitted and moved on to the tickets", func() bool { return buyer.path() == page+"/tickets" })
	buyer.eventually(10*time.Second, "the event's tickets listed", func() bool {
		n, _ := chromedp.Run(buyer.ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="event-ticket"]').length`))
		return n == 4
	})
	buyer.screenshot("event-tickets")

	// Buy: the queue pass goes with the order (the orders service refuses one without it).
	buyer.eventually(30*time.Second, "an order for the event's ticket", func() bool {
		if buyer.path() != page+"/tickets" {
			buyer.open(page + "/tickets")
		}
		buyer.submit("buy")
		return buyer.text("order-status") == "created"
	})
	if p := buyer.path(); !strings.HasPrefix(p, "/orders/") {
		t.Fatalf("buying lands on %s", p)
	}
	if !strings.Contains(buyer.text("expires-in"), ":") {
		t.Fatal("the order page shows no hold")
	}
	buyer.eventually(30*time.Second, "the event counting the held ticket", func() bool {
		buyer.open(page)
		return buyer.text("event-free") == "3"
	})
}

package tickets_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"ticketing/common/events"
	"ticketing/common/testkit"
)

type eventJSON struct {
	ID             string    `json:"id"`
	Title          string    `json:"title"`
	UserID         string    `json:"userId"`
	OnSaleAt       time.Time `json:"onSaleAt"`
	TicketCount    int       `json:"ticketCount"`
	Price          float64   `json:"price"`
	Available      int       `json:"available"`
	MaxPerUser     int       `json:"maxPerUser"`
	AdmitPerMinute int       `json:"admitPerMinute"`
	Version        int64     `json:"version"`
}

// POST /api/events creates the event and its tickets, announced by event.created and one
// ticket.created with eventId each; GET shows it with its free count; the listing of tickets
// filters by event; bad input is a 400 naming the field.
func TestEvents(t *testing.T) {
	h := start(t)
	events_ := h.bus.Record(events.StreamEvents)
	alice := testkit.Token(t, "alice", "alice@example.com")
	onSale := time.Now().Add(time.Hour).UTC().Truncate(time.Second)

	r := h.call("POST", "/api/events", alice, fmt.Sprintf(`{"title":"Gala","onSaleAt":%q,"tickets":{"count":1200,"price":12.5},"maxPerUser":2}`, onSale.Format(time.RFC3339)))
	r.Expect(http.StatusCreated, "", "")
	var e eventJSON
	r.JSON(&e)
	if e.Title != "Gala" || e.UserID != "alice" || !e.OnSaleAt.Equal(onSale) || e.TicketCount != 1200 || e.Price != 12.5 ||
		e.Available != 1200 || e.MaxPerUser != 2 || e.AdmitPerMinute != 600 || e.Version != 0 {
		t.Errorf("created %+v", e)
	}

	var got eventJSON
	r = h.call("GET", "/api/events/"+e.ID, "", nil)
	r.Expect(http.StatusOK, "", "")
	if r.JSON(&got); got != e {
		t.Errorf("GET = %+v, want %+v", got, e)
	}
	var list []eventJSON
	r = h.call("GET", "/api/events", "", nil)
	if err := json.Unmarshal(r.Body, &list); err != nil || len(list) != 1 || list[0] != e {
		t.Errorf("GET /api/events = %s", r.Body)
	}
	h.call("GET", "/api/events/"+strings.Repeat("0", 24), "", nil).Expect(http.StatusNotFound, "", "Event not found")
	h.call("GET", "/api/events/nope", "", nil).Expect(http.StatusNotFound, "", "Event not found")

	// The event's tickets, paged; another ticket is not among them.
	other := h.create(alice, "Not of the event", 5)
	seen := map[string]bool{}
	after := ""
	for {
		r := h.call("GET", "/api/tickets?limit=500&eventId="+e.ID+after, "", nil)
		r.Expect(http.StatusOK, "", "")
		var page []struct {
			ID, Title, EventID string
			Price              float64
		}
		r.JSON(&page)
		if len(page) == 0 {
			break
		}
		for _, tk := range page {
			if tk.EventID != e.ID || tk.Price != 12.5 || !strings.HasPrefix(tk.Title, "Gala #") || seen[tk.ID] {
				t.Fatalf("ticket %+v", tk)
			}
			seen[tk.ID] = true
		}
		after = "&after=" + page[len(page)-1].ID
	}
	if len(seen) != 1200 || seen[other.ID] {
		t.Errorf("listed %d tickets of the event (the other one: %t), want 1200", len(seen), seen[other.ID])
	}

	// The bus: event.created once, and a ticket.created with eventId for each ticket.
	events_.CaughtUp()
	created := events_.Of(e.ID, events.SubjectEventCreated)
	if len(created) != 1 {
		t.Fatalf("%d event.created", len(created))
	}
	ec, err := events.Decode[events.EventCreated](created[0].Data)
	if err != nil || ec.TicketCount != 1200 || ec.MaxPerUser != 2 || ec.AdmitPerMinute != 600 || !ec.OnSaleAt.Equal(onSale) || ec.UserID != "alice" {
		t.Errorf("event.created %+v (%v)", ec, err)
	}
	testkit.Eventually(t, 30*time.Second, "1200 ticket.created with eventId", func() bool {
		h.rec.CaughtUp()
		announced := map[string]bool{}
		for _, m := range h.rec.All() {
			if m.Subject != events.SubjectTicketCreated {
				continue
			}
			if tc, err := events.Decode[events.TicketCreated](m.Data); err == nil && tc.EventID == e.ID && seen[tc.ID] {
				announced[tc.ID] = true
			}
		}
		return len(announced) == 1200
	})

	// A reserved ticket is not free any more.
	var one string
	for id := range seen {
		one = id
		break
	}
	publish(h, orderCreated("order-1", one))
	h.handled(events.SubjectOrderCreated)
	r = h.call("GET", "/api/events/"+e.ID, "", nil)
	if r.JSON(&got); got.Available != 1199 {
		t.Errorf("available after a reservation: %s", r.Body)
	}

	for _, tc := range []struct{ body, field string }{
		{`{"onSaleAt":"2030-01-01T00:00:00Z","tickets":{"count":1,"price":1}}`, "title"},
		{`{"title":"x","tickets":{"count":1,"price":1}}`, "onSaleAt"},
		{`{"title":"x","onSaleAt":"tomorrow","tickets":{"count":1,"price":1}}`, "onSaleAt"},
		{`{"title":"x","onSaleAt":"2030-01-01T00:00:00Z","tickets":{"count":10001,"price":1}}`, "tickets.count"},
		{`{"title":"x","onSaleAt":"2030-01-01T00:00:00Z","tickets":{"count":0,"price":1}}`, "tickets.count"},
		{`{"title":"x","onSaleAt":"2030-01-01T00:00:00Z","tickets":{"count":1}}`, "tickets.price"},
		{`{"title":"x","onSaleAt":"2030-01-01T00:00:00Z","tickets":{"count":1,"price":1.001}}`, "tickets.price"},
		{`{"title":"x","onSaleAt":"2030-01-01T00:00:00Z","tickets":{"count":1,"price":1},"maxPerUser":0}`, "maxPerUser"},
		{`{"title":"x","onSaleAt":"2030-01-01T00:00:00Z","tickets":{"count":1,"price":1},"admitPerMinute":0}`, "admitPerMinute"},
		{`{"title":"` + strings.Repeat("x", 191) + `","onSaleAt":"2030-01-01T00:00:00Z","tickets":{"count":1,"price":1}}`, "title"},
	} {
		r := h.call("POST", "/api/events", alice, tc.body)
		if r.Status != http.StatusBadRequest || r.ErrorField() != tc.field {
			t.Errorf("%s: %d %s, want 400 on %s", tc.body, r.Status, r.Body, tc.field)
		}
	}
	h.call("POST", "/api/events", "", `{}`).Expect(http.StatusUnauthorized, "", "")
	h.call("GET", "/api/tickets?eventId=zz", "", nil).Expect(http.StatusBadRequest, "eventId", "")
}

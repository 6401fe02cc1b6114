package apiclient_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"ticketing/common/apiclient"
	"ticketing/common/authn"
)

// The client sends who the call is for and the body as the API reads them, and keeps the
// API's answers: the view of a success, the error shape of a refusal.
func TestCalls(t *testing.T) {
	var got *http.Request
	var gotBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotBody = r, nil
		gotBody, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/tickets":
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":"t1","title":"Show","price":20.50,"userId":"u1","version":0,"orderId":null,"status":"available"}`)
		case "/api/orders/o1":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"errors":[{"message":"Order not found"},{"message":"Bad","field":"id"}]}`)
		case "/api/users/currentuser":
			_, _ = io.WriteString(w, `{"currentUser":null}`)
		default:
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	c := apiclient.New(srv.URL+"/", apiclient.Options{})
	ctx := context.Background()

	tk, resp, err := c.CreateTicket(ctx, apiclient.Auth{Token: "tok", Session: "sess", QueuePass: "pass", RequestID: "req-1"}, apiclient.NewTicket("Show", 20.5))
	if err != nil || resp.Status != http.StatusCreated {
		t.Fatalf("create: %v %s", err, resp)
	}
	if tk.ID != "t1" || tk.Price.String() != "20.50" || tk.Price.Float() != 20.5 || tk.OrderID != nil || tk.Status != "available" {
		t.Errorf("ticket %+v", tk)
	}
	if got.Header.Get("Authorization") != "Bearer tok" || got.Header.Get("Content-Type") != "application/json" ||
		got.Header.Get("X-Request-Id") != "req-1" {
		t.Errorf("headers %v", got.Header)
	}
	if ck, err := got.Cookie(apiclient.SessionCookie); err != nil || ck.Value != "sess" {
		t.Errorf("session cookie %v %v", ck, err)
	}
	// The waiting room's pass travels in the header the orders service reads beside the
	// browser's cookie.
	if got.Header.Get(apiclient.QueuePassHeader) != "pass" || apiclient.QueuePassCookie != authn.PassCookie || apiclient.QueuePassHeader != authn.PassHeader {
		t.Errorf("queue pass header %q", got.Header.Get(apiclient.QueuePassHeader))
	}
	var body map[string]any
	if err := json.Unmarshal(gotBody, &body); err != nil || body["title"] != "Show" || body["price"] != 20.5 {
		t.Errorf("body %s: %v", gotBody, err)
	}

	_, resp, err = c.Order(ctx, apiclient.Bearer("tok"), "o1")
	var e *apiclient.Error
	if !apiclient.IsStatus(err, http.StatusNotFound) || !errorsAs(err, &e) {
		t.Fatalf("order: %v", err)
	}
	if e.Field("id") != "Bad" || e.General("id") != "Order not found" || resp.RetryAfter().Seconds() != 3 {
		t.Errorf("error %+v, retry after %v", e, resp.RetryAfter())
	}
	if got.Header.Get("Content-Type") != "" || got.Header.Get("Authorization") != "Bearer tok" {
		t.Errorf("a GET without a body: headers %v", got.Header)
	}

	u, _, err := c.CurrentUser(ctx, apiclient.Auth{})
	if err != nil || u != nil {
		t.Errorf("signed out: %v %v", u, err)
	}

	// A 5xx with no error shape still reads as an *Error, with the status text.
	_, err = c.CancelOrder(ctx, apiclient.Auth{}, "x")
	if !errorsAs(err, &e) || e.Status != http.StatusBadGateway || e.Errors[0].Message != "Bad Gateway" {
		t.Errorf("cancel: %v", err)
	}

	// No answer: status 0 and the transport's error.
	srv.Close()
	resp = c.Do(ctx, "GET", "/api/tickets", "", nil)
	if resp.Err == nil || resp.Status != 0 || resp.Check() == nil {
		t.Errorf("closed server: %s", resp)
	}
}

// The on-sale calls: an event created, its tickets listed, a place in its waiting room, and
// an order carrying the pass in the Queue-Pass header.
func TestOnSaleCalls(t *testing.T) {
	var got *http.Request
	var gotBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		gotBody, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "POST /api/events":
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":"e1","title":"Gala","userId":"u1","onSaleAt":"2026-12-04T20:00:00Z","ticketCount":3,"price":10,"available":3,"maxPerUser":1,"admitPerMinute":60,"version":0}`)
		case "GET /api/tickets":
			_, _ = io.WriteString(w, `[{"id":"t1","title":"Gala #1","price":10,"userId":"u1","version":0,"status":"available","eventId":"e1"}]`)
		case "GET /api/queue/e1":
			_, _ = io.WriteString(w, `{"eventId":"e1","status":"admitted","position":null,"ahead":null,"estimatedWaitSeconds":0,"pass":"p1","passExpiresAt":"2026-12-04T20:10:00.123Z"}`)
		case "POST /api/queue/e1":
			_, _ = io.WriteString(w, `{"eventId":"e1","status":"waiting","position":4,"ahead":3,"estimatedWaitSeconds":4,"pass":null,"passExpiresAt":null}`)
		case "POST /api/orders":
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":"o1","status":"created","ticket":{"id":"t1"}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	c := apiclient.New(srv.URL, apiclient.Options{})
	ctx := context.Background()
	open := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	ev, _, err := c.CreateEvent(ctx, apiclient.Bearer("tok"), apiclient.NewEvent{Title: "Gala", OnSaleAt: open,
		Tickets: apiclient.NewEventBatch{Count: 3, Price: 10}, MaxPerUser: 1, AdmitPerMinute: 60})
	if err != nil || ev.ID != "e1" || !ev.OnSaleAt.Equal(open) || ev.AdmitPerMinute != 60 {
		t.Fatalf("create event: %+v %v", ev, err)
	}
	var body map[string]any
	if err := json.Unmarshal(gotBody, &body); err != nil || body["onSaleAt"] != "2026-12-04T20:00:00Z" ||
		body["tickets"].(map[string]any)["count"] != 3.0 || body["maxPerUser"] != 1.0 {
		t.Errorf("event body %s: %v", gotBody, err)
	}
	tks, _, err := c.EventTickets(ctx, apiclient.Auth{}, "e1", 100, "")
	if err != nil || len(tks) != 1 || tks[0].EventID != "e1" || got.URL.Query().Get("eventId") != "e1" || got.URL.Query().Get("limit") != "100" {
		t.Errorf("event tickets %+v %v (query %s)", tks, err, got.URL.RawQuery)
	}
	pl, _, err := c.JoinQueue(ctx, apiclient.Bearer("tok"), "e1")
	if err != nil || pl.Status != apiclient.PlaceWaiting || pl.Position == nil || *pl.Position != 4 || pl.EstimatedWaitSeconds != 4 || pl.Pass != "" {
		t.Errorf("join %+v %v", pl, err)
	}
	pl, _, err = c.QueuePlace(ctx, apiclient.Bearer("tok"), "e1")
	if err != nil || pl.Status != apiclient.PlaceAdmitted || pl.Pass != "p1" || pl.PassExpiresAt == nil || pl.PassExpiresAt.Nanosecond() != 123e6 {
		t.Errorf("place %+v %v", pl, err)
	}
	if _, _, err := c.CreateOrder(ctx, apiclient.Auth{Token: "tok", QueuePass: pl.Pass}, "t1"); err != nil || got.Header.Get(apiclient.QueuePassHeader) != "p1" {
		t.Errorf("order with the pass: %v, headers %v", err, got.Header)
	}
}

func errorsAs(err error, e **apiclient.Error) bool {
	v, ok := err.(*apiclient.Error)
	*e = v
	return ok
}

// A price reads any JSON number as it is written and nothing else; what it reads it writes
// back unchanged.
func FuzzPrice(f *testing.F) {
	for _, s := range []string{`20.5`, `0.01`, `1e3`, `-0`, `"20"`, `null`, `{}`, ``, `20.`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p apiclient.Price
		if err := json.Unmarshal(b, &p); err != nil || p == "" {
			return
		}
		out, err := json.Marshal(p)
		if err != nil || !json.Valid(out) || string(out) != p.String() {
			t.Fatalf("%q read as %q, written as %q (%v)", b, p, out, err)
		}
		var n json.Number
		if err := json.Unmarshal(out, &n); err != nil {
			t.Fatalf("%q is not a number: %v", out, err)
		}
	})
}

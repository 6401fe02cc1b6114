package api

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"ticketing/common/apiclient"
	cweb "ticketing/common/web"
	"ticketing/services/web/internal/app"
)

// fakeAPI is a small in-memory stand-in of the REST API, enough for the pages' tests: the
// session cookie is "s-" + the user's id.
type fakeAPI struct {
	mu      sync.Mutex
	users   map[string]string // email -> id
	tickets []app.Ticket
	orders  map[string]*app.Order
	n       int
	// razorpay makes the fake's provider Razorpay; verified holds the Checkout results the
	// storefront handed to the verify route.
	razorpay bool
	verified []map[string]any
	refused  int // calls whose cookie was refused as cross-site
	// events and their waiting rooms: a place per event and user ("<event>/<user>"); the
	// pass of an admitted place is "pass-<user>-<event>", set as the queue_pass cookie.
	events      []app.Event
	places      map[string]*app.Place
	admitOnJoin bool            // a buyer who joins is admitted at once
	queueAwaits map[string]bool // events the waiting room has not heard of yet
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{users: map[string]string{}, orders: map[string]*app.Order{}, places: map[string]*app.Place{},
		queueAwaits: map[string]bool{}}
}

// passOf is the pass the fake's waiting room gives user for event.
func passOf(user, event string) string { return "pass-" + user + "-" + event }

// setPlace sets user's place in event's waiting room (admitted: with its pass).
func (f *fakeAPI) setPlace(event, user, status string, position int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.places[event+"/"+user] = newPlace(event, user, status, position)
}

// newPlace is a place in event's waiting room: admitted with user's pass, or at position
// (none before the sale, 0).
func newPlace(event, user, status string, position int64) *app.Place {
	p := &app.Place{EventID: event, Status: status}
	switch {
	case status == app.QueueAdmitted:
		pass, exp := passOf(user, event), time.Now().Add(10*time.Minute)
		p.Pass, p.PassExpiresAt = pass, &exp
	case position > 0:
		ahead := position - 1
		p.Position, p.Ahead, p.EstimatedWaitSeconds = &position, &ahead, position
	}
	return p
}

// event is the event id with its free tickets counted, or nil.
func (f *fakeAPI) event(id string) *app.Event {
	for i := range f.events {
		if e := &f.events[i]; e.ID == id {
			e.Available = 0
			for _, t := range f.tickets {
				if t.EventID == id && t.Status == "available" {
					e.Available++
				}
			}
			return e
		}
	}
	return nil
}

// queue answers the waiting room's routes.
func (f *fakeAPI) queue(w http.ResponseWriter, r *http.Request, uid, eventID string) {
	if uid == "" {
		apiError(w, 401, "", "Not authorized")
		return
	}
	key := eventID + "/" + uid
	p := f.places[key]
	if r.Method == http.MethodPost && p == nil {
		if f.event(eventID) == nil || f.queueAwaits[eventID] {
			apiError(w, 404, "", "Event not found")
			return
		}
		status := app.QueueWaiting
		if f.admitOnJoin {
			status = app.QueueAdmitted
		}
		p = newPlace(eventID, uid, status, 0)
		f.places[key] = p
	}
	if p == nil {
		apiError(w, 404, "", "Not in the queue")
		return
	}
	if p.Pass != "" {
		http.SetCookie(w, &http.Cookie{Name: "queue_pass", Value: p.Pass, Path: "/", HttpOnly: true})
	}
	reply(w, 200, p)
}

func apiError(w http.ResponseWriter, status int, field, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []app.FieldError{{Message: msg, Field: field}}})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeAPI) user(r *http.Request) string {
	c, err := r.Cookie("session")
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(c.Value, "s-")
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var body map[string]any
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
	}
	str := func(k string) string { s, _ := body[k].(string); return s }
	uid := f.user(r)
	if uid != "" && !cweb.CrossSiteSafe(r) {
		// As the real services: a session cookie signs in a request that changes state only
		// when it is JSON from this site, so every call of the storefront must be.
		f.refused++
		uid = ""
	}
	path := r.URL.Path
	switch {
	case path == "/api/users/currentuser":
		for email, id := range f.users {
			if id == uid {
				reply(w, 200, map[string]any{"currentUser": map[string]string{"id": id, "email": email}})
				return
			}
		}
		reply(w, 200, map[string]any{"currentUser": nil})
	case path == "/api/users/signup" || path == "/api/users/signin":
		email, pw := str("email"), str("password")
		if !strings.Contains(email, "@") {
			apiError(w, 400, "email", "Email must be valid")
			return
		}
		if len(pw) < 8 {
			apiError(w, 400, "password", "Password must be between 8 and 128 characters")
			return
		}
		id, ok := f.users[email]
		if path == "/api/users/signup" {
			if ok {
				apiError(w, 409, "email", "Email in use")
				return
			}
			f.n++
			id = fmt.Sprintf("u%d", f.n)
			f.users[email] = id
		} else if !ok {
			apiError(w, 401, "", "Invalid credentials")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "s-" + id, Path: "/", HttpOnly: true})
		reply(w, 201, map[string]string{"id": id, "email": email})
	case path == "/api/users/signout":
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "", Path: "/", MaxAge: -1})
		reply(w, 200, map[string]any{})
	case path == "/api/tickets" && r.Method == http.MethodGet:
		out := []app.Ticket{}
		event := r.URL.Query().Get("eventId")
		for i := len(f.tickets) - 1; i >= 0 && len(out) < 24; i-- {
			if t := f.tickets[i]; t.Status == "available" && (event == "" || t.EventID == event) {
				out = append(out, t)
			}
		}
		reply(w, 200, out)
	case path == "/api/events":
		out := []app.Event{}
		for _, e := range f.events {
			out = append(out, *f.event(e.ID))
		}
		reply(w, 200, out)
	case strings.HasPrefix(path, "/api/events/"):
		if e := f.event(strings.TrimPrefix(path, "/api/events/")); e != nil {
			reply(w, 200, e)
			return
		}
		apiError(w, 404, "", "Event not found")
	case strings.HasPrefix(path, "/api/queue/"):
		f.queue(w, r, uid, strings.TrimPrefix(path, "/api/queue/"))
	case path == "/api/tickets" && r.Method == http.MethodPost:
		if uid == "" {
			apiError(w, 401, "", "Not authorized")
			return
		}
		t, ok := f.ticketInput(w, body)
		if !ok {
			return
		}
		f.n++
		t.ID, t.UserID, t.Status = fmt.Sprintf("t%d", f.n), uid, "available"
		f.tickets = append(f.tickets, t)
		reply(w, 201, t)
	case strings.HasPrefix(path, "/api/tickets/"):
		id := strings.TrimPrefix(path, "/api/tickets/")
		for i := range f.tickets {
			if f.tickets[i].ID != id {
				continue
			}
			if r.Method == http.MethodPut {
				if f.tickets[i].UserID != uid {
					apiError(w, 403, "", "Not allowed")
					return
				}
				t, ok := f.ticketInput(w, body)
				if !ok {
					return
				}
				f.tickets[i].Title, f.tickets[i].Price = t.Title, t.Price
			}
			reply(w, 200, f.tickets[i])
			return
		}
		apiError(w, 404, "", "Ticket not found")
	case path == "/api/orders" && r.Method == http.MethodPost:
		if uid == "" {
			apiError(w, 401, "", "Not authorized")
			return
		}
		for i := range f.tickets {
			t := &f.tickets[i]
			if t.ID != str("ticketId") {
				continue
			}
			if t.UserID == uid {
				apiError(w, 403, "", "Cannot order your own ticket")
				return
			}
			if t.Status != "available" {
				apiError(w, 409, "", "Ticket is already reserved")
				return
			}
			if t.EventID != "" && r.Header.Get(apiclient.QueuePassHeader) != passOf(uid, t.EventID) {
				apiError(w, 403, "", "Queue pass required")
				return
			}
			f.n++
			o := &app.Order{ID: fmt.Sprintf("o%d", f.n), UserID: uid, Status: app.OrderCreated, ExpiresAt: time.Now().Add(15 * time.Minute)}
			o.Ticket.ID, o.Ticket.Title, o.Ticket.Price = t.ID, t.Title, t.Price
			t.Status, t.OrderID = "reserved", &o.ID
			f.orders[o.ID] = o
			reply(w, 201, o)
			return
		}
		apiError(w, 404, "", "Ticket not found")
	case path == "/api/orders":
		out := []*app.Order{}
		for _, o := range f.orders {
			if o.UserID == uid {
				out = append(out, o)
			}
		}
		reply(w, 200, out)
	case strings.HasPrefix(path, "/api/orders/"):
		o := f.orders[strings.TrimPrefix(path, "/api/orders/")]
		switch {
		case uid == "":
			apiError(w, 401, "", "Not authorized")
		case o == nil:
			apiError(w, 404, "", "Order not found")
		case o.UserID != uid:
			apiError(w, 403, "", "Not allowed")
		case r.Method == http.MethodDelete:
			o.Status = app.OrderCanceled
			w.WriteHeader(204)
		default:
			reply(w, 200, o)
		}
	case path == "/api/payments/config" && f.razorpay:
		reply(w, 200, app.PaymentConfig{Provider: "razorpay", KeyID: "rzp_test_web", Currency: "inr"})
	case path == "/api/payments/config":
		reply(w, 200, app.PaymentConfig{Provider: "offline", Currency: "usd"})
	case path == "/api/payments/razorpay/verify":
		o := f.orders[strings.TrimPrefix(str("razorpay_order_id"), "order_for_")]
		switch {
		case uid == "":
			apiError(w, 401, "", "Not authorized")
		case o == nil || str("razorpay_signature") != "good":
			apiError(w, 400, "razorpay_signature", "Invalid razorpay_signature")
		default:
			f.verified = append(f.verified, body)
			o.Status = app.OrderComplete
			reply(w, 201, app.Payment{ID: "p1", OrderID: o.ID, StripeID: str("razorpay_payment_id"), Status: "succeeded"})
		}
	case path == "/api/payments" && f.razorpay:
		o := f.orders[str("orderId")]
		if o == nil || uid == "" {
			apiError(w, 404, "", "Order not found")
			return
		}
		reply(w, 201, app.Payment{ID: "p1", OrderID: o.ID, StripeID: "order_for_" + o.ID, Status: "requires_payment_method",
			RazorpayOrderID: "order_for_" + o.ID, KeyID: "rzp_test_web", Amount: 205000, Currency: "INR"})
	case path == "/api/payments":
		o := f.orders[str("orderId")]
		switch {
		case uid == "":
			apiError(w, 401, "", "Not authorized")
		case o == nil:
			apiError(w, 404, "", "Order not found")
		case str("token") == "tok_chargeDeclined":
			apiError(w, 402, "", "Your card was declined.")
		case !strings.HasPrefix(str("token"), "tok_"):
			apiError(w, 400, "token", "token must be a Stripe card token such as tok_visa")
		default:
			o.Status = app.OrderComplete
			reply(w, 201, app.Payment{ID: "p1", OrderID: o.ID, Status: "succeeded"})
		}
	default:
		apiError(w, 404, "", "Not found")
	}
}

func (f *fakeAPI) ticketInput(w http.ResponseWriter, body map[string]any) (app.Ticket, bool) {
	var errs []app.FieldError
	title, _ := body["title"].(string)
	if strings.TrimSpace(title) == "" {
		errs = append(errs, app.FieldError{Field: "title", Message: "Title is required"})
	}
	price, ok := body["price"].(float64)
	if !ok || price <= 0 {
		errs = append(errs, app.FieldError{Field: "price", Message: "Price must be a number greater than 0"})
	}
	if len(errs) > 0 {
		reply(w, 400, map[string]any{"errors": errs})
		return app.Ticket{}, false
	}
	return app.Ticket{Title: title, Price: apiclient.Price(fmt.Sprint(price))}, true
}

// storefront is the pages in front of a fake API.
func storefront(t testing.TB) (*fakeAPI, http.Handler) {
	f := newFakeAPI()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, NewRouter(slog.New(slog.DiscardHandler), app.NewClient(srv.URL, 5*time.Second),
		Options{StripeJSURL: "https://js.stripe.com/v3/", RazorpayCheckoutURL: "https://checkout.razorpay.com/v1/checkout.js"})
}

func ticketOf(id, user string) app.Ticket {
	return app.Ticket{ID: id, Title: "Seeded", Price: "10", UserID: user, Status: "available"}
}

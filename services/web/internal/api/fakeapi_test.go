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
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{users: map[string]string{}, orders: map[string]*app.Order{}}
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
		for i := len(f.tickets) - 1; i >= 0 && len(out) < 24; i-- {
			out = append(out, f.tickets[i])
		}
		reply(w, 200, out)
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
	case path == "/api/payments/config":
		reply(w, 200, app.PaymentConfig{Provider: "offline", Currency: "usd"})
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
		Options{StripeJSURL: "https://js.stripe.com/v3/"})
}

func ticketOf(id, user string) app.Ticket {
	return app.Ticket{ID: id, Title: "Seeded", Price: "10", UserID: user, Status: "available"}
}

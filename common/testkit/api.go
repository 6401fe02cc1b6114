package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"ticketing/common/apiclient"
)

// API is a test's client of the REST API (the typed client of package apiclient): a call
// that gets no answer fails the test, and the typed calls fail it unless they succeed.
type API struct {
	T testing.TB
	*apiclient.Client
}

// NewAPI is a client of the API at base ("http://host:port"), with room for the
// concurrent calls of a race test.
func NewAPI(t testing.TB, base string, o ...apiclient.Options) *API {
	opts := apiclient.Options{HTTP: shared}
	if len(o) > 0 {
		opts = o[0]
	}
	return &API{T: t, Client: apiclient.New(base, opts)}
}

// shared is the HTTP client of the tests' API clients: connections are kept across tests.
var shared = &http.Client{
	Timeout:       30 * time.Second,
	Transport:     &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

var anyBase = apiclient.New("", apiclient.Options{HTTP: shared})

// Call sends method url (a whole URL) with token (when not "") and body as API.Call does.
func Call(t testing.TB, method, url, token string, body any) Reply {
	t.Helper()
	return (&API{T: t, Client: anyBase}).Call(method, url, token, body)
}

// Call sends method path with a bearer token (when not "") and body (a string or []byte as
// it is, anything else as JSON).
func (a *API) Call(method, path, token string, body any) Reply {
	a.T.Helper()
	return a.Send(apiclient.Request{Method: method, Path: path, Auth: apiclient.Bearer(token), Body: body})
}

// Send makes one call; no answer fails the test.
func (a *API) Send(r apiclient.Request) Reply {
	a.T.Helper()
	resp := a.Client.Send(a.T.Context(), r)
	if resp.Err != nil {
		a.T.Fatalf("testkit: %s %s: %v", r.Method, r.Path, resp.Err)
	}
	return Reply{Response: resp, t: a.T}
}

// Try is Call for a call that may get no answer (a fault test): Status 0 and the error in
// the body then.
func (a *API) Try(method, path, token string, body any) Reply {
	resp := a.Client.Send(context.Background(), apiclient.Request{Method: method, Path: path, Auth: apiclient.Bearer(token), Body: body})
	if resp.Err != nil {
		resp.Body = []byte(resp.Err.Error())
	}
	return Reply{Response: resp, t: a.T}
}

// Must sends the call and fails the test unless the answer has status want.
func (a *API) Must(want int, method, path, token string, body any) Reply {
	a.T.Helper()
	return a.Call(method, path, token, body).Want(want)
}

// Signup creates an account with a test password and returns its session.
func (a *API) Signup(email string) apiclient.Session {
	a.T.Helper()
	var s apiclient.Session
	a.Must(http.StatusCreated, "POST", "/api/users/signup", "", apiclient.Credentials{Email: email, Password: "correct horse battery"}).JSON(&s)
	return s
}

// CreateTicket lists a ticket as token's user.
func (a *API) CreateTicket(token, title string, price float64) apiclient.Ticket {
	a.T.Helper()
	var tk apiclient.Ticket
	a.Must(http.StatusCreated, "POST", "/api/tickets", token, apiclient.NewTicket(title, price)).Strict(&tk)
	return tk
}

// Ticket reads one ticket.
func (a *API) Ticket(id string) apiclient.Ticket {
	a.T.Helper()
	var tk apiclient.Ticket
	a.Must(http.StatusOK, "GET", "/api/tickets/"+id, "", nil).Strict(&tk)
	return tk
}

// PlaceOrder orders a ticket as token's user.
func (a *API) PlaceOrder(token, ticketID string) apiclient.Order {
	a.T.Helper()
	var o apiclient.Order
	a.Must(http.StatusCreated, "POST", "/api/orders", token, map[string]string{"ticketId": ticketID}).Strict(&o)
	return o
}

// Order reads one of token's user's orders.
func (a *API) Order(token, id string) apiclient.Order {
	a.T.Helper()
	var o apiclient.Order
	a.Must(http.StatusOK, "GET", "/api/orders/"+id, token, nil).Strict(&o)
	return o
}

// Reply is one answer of the API, with checks that fail the test.
type Reply struct {
	apiclient.Response
	t testing.TB
}

// Want fails the test unless the answer has status.
func (r Reply) Want(status int) Reply {
	r.t.Helper()
	if r.Status != status {
		r.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	return r
}

// JSON decodes the body into v.
func (r Reply) JSON(v any) {
	r.t.Helper()
	if err := r.Decode(v); err != nil {
		r.t.Fatal(err)
	}
}

// Strict decodes the body into v, failing on a field v does not have: a view that shows
// more than the API documents is caught.
func (r Reply) Strict(v any) {
	r.t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		r.t.Fatalf("body %s: %v", r.Body, err)
	}
}

// Field is the body's top-level string field name ("" when it has none, or the body is not
// a JSON object).
func (r Reply) Field(name string) string {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	s, _ := m[name].(string)
	return s
}

// Errors is the error shape's items, failing the test when the body has none.
func (r Reply) Errors() []apiclient.FieldError {
	r.t.Helper()
	errs := r.Response.Errors()
	if len(errs) == 0 {
		r.t.Fatalf("no error in %s", r.Body)
	}
	return errs
}

// Message is the first error's message ("" when the body has none).
func (r Reply) Message() string {
	if errs := r.Response.Errors(); len(errs) > 0 {
		return errs[0].Message
	}
	return ""
}

// ErrorField is the first error's field.
func (r Reply) ErrorField() string {
	r.t.Helper()
	return r.Errors()[0].Field
}

// Expect fails unless the answer has status, and for an error, an item with field (when not
// "") whose message contains msg (when not "").
func (r Reply) Expect(status int, field, msg string) {
	r.t.Helper()
	r.Want(status)
	if status < 400 {
		return
	}
	for _, e := range r.Errors() {
		if (field == "" || e.Field == field) && strings.Contains(e.Message, msg) {
			return
		}
	}
	r.t.Fatalf("errors %s: none with field %q and message %q", r.Body, field, msg)
}

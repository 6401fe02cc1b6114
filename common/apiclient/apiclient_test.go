package apiclient_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

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
	// The waiting room's pass travels as the browser sends it: the cookie the orders service
	// reads.
	if ck, err := got.Cookie(authn.PassCookie); apiclient.QueuePassCookie != authn.PassCookie || err != nil || ck.Value != "pass" {
		t.Errorf("queue pass cookie %v %v", ck, err)
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

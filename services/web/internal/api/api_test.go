package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"ticketing/services/web/internal/app"
)

// browser sends requests to h with the cookies h set, as a browser would.
type browser struct {
	t       testing.TB
	h       http.Handler
	cookies map[string]string
}

func newBrowser(t testing.TB, h http.Handler) *browser {
	return &browser{t: t, h: h, cookies: map[string]string{}}
}

func (b *browser) do(method, target string, form url.Values) *httptest.ResponseRecorder {
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	for k, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return rec
}

func expect(t testing.TB, rec *httptest.ResponseRecorder, status int, contains ...string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body:\n%s", rec.Code, status, rec.Body)
	}
	for _, c := range contains {
		if !strings.Contains(rec.Body.String(), c) {
			t.Fatalf("the page lacks %q:\n%s", c, rec.Body)
		}
	}
}

func TestPagesFlow(t *testing.T) {
	api, h := storefront(t)
	t.Cleanup(func() {
		if api.refused > 0 {
			t.Errorf("the API refused the session cookie of %d of the storefront's calls as cross-site", api.refused)
		}
	})
	seller, buyer := newBrowser(t, h), newBrowser(t, h)

	expect(t, seller.do("GET", "/", nil), 200, `data-testid="nav-signin"`, "No tickets for sale")
	rec := seller.do("GET", "/tickets/new", nil)
	expect(t, rec, http.StatusSeeOther)
	if loc := rec.Header().Get("Location"); loc != "/signin?next=%2Ftickets%2Fnew" {
		t.Fatalf("signed out, /tickets/new sends to %q", loc)
	}

	expect(t, seller.do("POST", "/signup", url.Values{"email": {"bad"}, "password": {"x"}, "next": {"/tickets/new"}}), 400,
		`data-testid="email-error"`, "Email must be valid")
	rec = seller.do("POST", "/signup", url.Values{"email": {"seller@example.com"}, "password": {"password1"}, "next": {"/tickets/new"}})
	expect(t, rec, http.StatusSeeOther)
	if rec.Header().Get("Location") != "/tickets/new" || seller.cookies["session"] == "" {
		t.Fatalf("sign-up lands on %q with cookies %v", rec.Header().Get("Location"), seller.cookies)
	}
	expect(t, seller.do("GET", "/tickets/new", nil), 200, `data-testid="current-user">seller@example.com`)
	expect(t, seller.do("POST", "/tickets/new", url.Values{"title": {""}, "price": {"abc"}}), 400,
		`data-testid="title-error"`, `data-testid="price-error"`)
	rec = seller.do("POST", "/tickets/new", url.Values{"title": {"Concert"}, "price": {"20.5"}})
	expect(t, rec, http.StatusSeeOther)
	ticketPage := rec.Header().Get("Location")
	expect(t, seller.do("GET", ticketPage, nil), 200, `data-testid="edit"`, "$20.50", `data-testid="ticket-status">available`)
	if strings.Contains(seller.do("GET", ticketPage, nil).Body.String(), `data-testid="buy"`) {
		t.Fatal("the seller is offered Buy")
	}
	expect(t, seller.do("GET", "/", nil), 200, `data-testid="ticket-card"`, "Concert")

	// Signed out, Buy sends to sign in and back.
	rec = buyer.do("POST", ticketPage+"/buy", url.Values{})
	expect(t, rec, http.StatusSeeOther)
	if loc := rec.Header().Get("Location"); loc != "/signin?next="+url.QueryEscape(ticketPage) {
		t.Fatalf("Buy signed out sends to %q", loc)
	}
	expect(t, buyer.do("POST", "/signup", url.Values{"email": {"buyer@example.com"}, "password": {"password2"}}), http.StatusSeeOther)
	rec = buyer.do("POST", ticketPage+"/buy", url.Values{})
	expect(t, rec, http.StatusSeeOther)
	orderPage := rec.Header().Get("Location")
	expect(t, buyer.do("GET", orderPage, nil), 200, `data-testid="expires-in"`, `data-testid="test-card"`, "tok_chargeDeclined")
	expect(t, buyer.do("POST", orderPage+"/pay", url.Values{"token": {"tok_chargeDeclined"}}), 402, "Your card was declined.")
	rec = buyer.do("POST", orderPage+"/pay", url.Values{"token": {"tok_visa"}})
	expect(t, rec, http.StatusSeeOther)
	expect(t, buyer.do("GET", rec.Header().Get("Location"), nil), 200, `data-testid="order-status" aria-live="polite">complete`)
	expect(t, buyer.do("GET", "/orders", nil), 200, `data-testid="order-row"`)

	// Another user's order is not found; an unknown page is a 404 page.
	expect(t, seller.do("GET", orderPage, nil), 404)
	expect(t, seller.do("GET", "/nope", nil), 404, "Not found")
	expect(t, seller.do("POST", "/signout", url.Values{}), http.StatusSeeOther)
	if seller.cookies["session"] != "" {
		t.Fatal("sign-out kept the session")
	}
}

// A form posted from another site is refused, before any call to the API; the same form from
// the storefront's own pages passes.
func TestCrossSiteFormsRefused(t *testing.T) {
	_, h := storefront(t)
	b := newBrowser(t, h)
	expect(t, b.do("POST", "/signup", url.Values{"email": {"ann@example.com"}, "password": {"password1"}}), http.StatusSeeOther)
	post := func(headers ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/tickets/new", strings.NewReader(url.Values{"title": {"Forged"}, "price": {"1"}}.Encode()))
		req.Host = "shop.example"
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		req.AddCookie(&http.Cookie{Name: "session", Value: b.cookies["session"]})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	expect(t, post("Origin", "https://evil.example"), http.StatusForbidden, "This form was sent from another site.")
	expect(t, post("Origin", "null"), http.StatusForbidden)
	expect(t, post("Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
	expect(t, post("Origin", "https://shop.example", "Sec-Fetch-Site", "same-origin"), http.StatusSeeOther)
	expect(t, post(), http.StatusSeeOther)
	if strings.Contains(b.do("GET", "/", nil).Body.String(), "Forged") == false {
		t.Fatal("the same-site listings are missing")
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/orders/1": "/orders/1", "": "/", "//evil.example": "/", "https://evil.example/": "/", "/\\evil": "/", "orders": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStaticFiles(t *testing.T) {
	_, h := storefront(t)
	b := newBrowser(t, h)
	rec := b.do("GET", "/static/"+staticVersion+"/app.js", nil)
	expect(t, rec, 200)
	if rec.Body.Len() > 50<<10 {
		t.Fatalf("app.js is %d bytes; a page's own JavaScript stays under 50 KB", rec.Body.Len())
	}
	expect(t, b.do("GET", "/static/"+staticVersion+"/", nil), 404)
}

// FuzzForms: whatever a browser sends to a page, the answer is never a 5xx.
func FuzzForms(f *testing.F) {
	for _, s := range [][3]string{
		{"POST", "/signup", "email=a%40b.c&password=password1&next=%2F"},
		{"POST", "/signin", "email=&password=&next=//x"},
		{"POST", "/tickets/new", "title=A&price=1e999"},
		{"POST", "/tickets/t1/edit", "title=%00&price=-0.001"},
		{"POST", "/tickets/t1/buy", ""},
		{"POST", "/orders/o1/pay", "token=tok_visa"},
		{"POST", "/orders/o1/cancel", "%zz"},
		{"GET", "/?after=%ff", ""},
		{"GET", "/signin?next=%0d%0a", ""},
		{"GET", "/events?after=%ff", ""},
		{"GET", "/events/e1", ""},
		{"POST", "/events/e1/join", ""},
		{"GET", "/events/e1/tickets?after=x", ""},
		{"POST", "/events/e1/buy", "ticket=e1-t1&ticket=%00"},
	} {
		f.Add(s[0], s[1], s[2], true)
	}
	fake, h := storefront(f)
	fake.users["a@b.c"] = "u0"
	fake.tickets = append(fake.tickets, ticketOf("t1", "u9"))
	seedEvent(fake, "e1", "u9", time.Now().Add(time.Minute), 2)
	fake.setPlace("e1", "u0", app.QueueAdmitted, 0)
	f.Fuzz(func(t *testing.T, method, target, body string, signedIn bool) {
		if method != "GET" && method != "POST" {
			method = "POST"
		}
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		req := httptest.NewRequest(method, "/", strings.NewReader(body))
		req.URL = u
		req.RequestURI = target
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if signedIn {
			req.AddCookie(&http.Cookie{Name: "session", Value: "s-u0"})
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d\n%s", method, target, body, rec.Code, rec.Body)
		}
	})
}

// With Razorpay the order page opens Checkout (checkout.js from Razorpay's origin, allowed by
// the CSP) for the order's Razorpay order; Checkout's result is handed to the API's verify
// route, and the page then follows the order.
func TestRazorpayCheckout(t *testing.T) {
	f, h := storefront(t)
	f.mu.Lock()
	f.razorpay = true
	f.mu.Unlock()
	seller, buyer := newBrowser(t, h), newBrowser(t, h)
	expect(t, seller.do("POST", "/signup", url.Values{"email": {"seller@example.com"}, "password": {"password1"}}), http.StatusSeeOther)
	rec := seller.do("POST", "/tickets/new", url.Values{"title": {"Concert"}, "price": {"2050"}})
	expect(t, rec, http.StatusSeeOther)
	ticketPage := rec.Header().Get("Location")
	expect(t, buyer.do("POST", "/signup", url.Values{"email": {"buyer@example.com"}, "password": {"password2"}}), http.StatusSeeOther)
	rec = buyer.do("POST", ticketPage+"/buy", url.Values{})
	expect(t, rec, http.StatusSeeOther)
	orderPage := rec.Header().Get("Location")
	orderID := strings.TrimPrefix(orderPage, "/orders/")

	rec = buyer.do("GET", orderPage, nil)
	expect(t, rec, 200, `data-testid="razorpay-checkout"`, `data-key="rzp_test_web"`, `data-order="order_for_`+orderID+`"`,
		`data-amount="205000"`, `data-currency="INR"`, `<script src="https://checkout.razorpay.com/v1/checkout.js">`)
	if strings.Contains(rec.Body.String(), `data-testid="test-card"`) {
		t.Fatal("with Razorpay the page offers the offline test cards")
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self' https://js.stripe.com https://checkout.razorpay.com;") {
		t.Fatalf("CSP %q does not allow checkout.js", csp)
	}

	bad := url.Values{"razorpay_payment_id": {"pay_1"}, "razorpay_order_id": {"order_for_" + orderID}, "razorpay_signature": {"forged"}}
	expect(t, buyer.do("POST", orderPage+"/razorpay", bad), 400, "Invalid razorpay_signature")
	good := url.Values{"razorpay_payment_id": {"pay_1"}, "razorpay_order_id": {"order_for_" + orderID}, "razorpay_signature": {"good"}}
	rec = buyer.do("POST", orderPage+"/razorpay", good)
	expect(t, rec, http.StatusSeeOther)
	if loc := rec.Header().Get("Location"); loc != orderPage+"?paid=1" {
		t.Fatalf("after Checkout: %q", loc)
	}
	f.mu.Lock()
	verified := f.verified
	f.mu.Unlock()
	if len(verified) != 1 || verified[0]["razorpay_payment_id"] != "pay_1" {
		t.Fatalf("verified %v", verified)
	}
	expect(t, buyer.do("GET", orderPage+"?paid=1", nil), 200, `data-testid="order-status" aria-live="polite">complete`)
}

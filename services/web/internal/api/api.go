// Package api serves the storefront's pages (the "Storefront" section of docs/API.md): HTML
// rendered with html/template from embedded templates, and a little embedded JavaScript for
// the order page's countdown, following and Stripe's Payment Element, and the waiting room's
// countdown and place. Every page calls the
// REST API through app.Client on behalf of the visitor; an answer of the API becomes a page,
// never a 5xx for what a browser sent.
package api

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing/common/meta"
	cweb "ticketing/common/web"
	"ticketing/services/web/internal/app"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// PageSize is how many tickets the home page lists at a time.
const PageSize = 24

// maxForm is the largest form body read.
const maxForm = 64 << 10

// Options tune the pages.
type Options struct {
	StripeJSURL string // where the order page loads Stripe.js from
	// RazorpayCheckoutURL is where the order page loads Razorpay's checkout.js from.
	RazorpayCheckoutURL string
}

// pages holds what the handlers need.
type pages struct {
	log          *slog.Logger
	api          *app.Client
	opts         Options
	tmpl         map[string]*template.Template
	csp          string
	staticPrefix string
}

// NewRouter is the storefront's router: the platform's middleware stack, health routes,
// the static files and the pages.
func NewRouter(log *slog.Logger, client *app.Client, opts Options) http.Handler {
	p := &pages{log: log, api: client, opts: opts, tmpl: parseTemplates()}
	p.csp = contentSecurityPolicy(opts.StripeJSURL, opts.RazorpayCheckoutURL)
	p.staticPrefix = "/static/" + staticVersion + "/"

	r := cweb.NewRouter(log, nil)
	cweb.Health(r, cweb.Probes{})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		p.fail(w, r, &app.Error{Status: http.StatusNotFound, Errors: []app.FieldError{{Message: "Not found"}}})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		p.fail(w, r, &app.Error{Status: http.StatusMethodNotAllowed, Errors: []app.FieldError{{Message: "Method not allowed"}}})
	})
	r.Get("/static/{version}/*", serveStatic)
	r.Group(func(r chi.Router) {
		r.Use(p.headers)
		r.Get("/", p.home)
		r.Get("/signup", p.authForm("signup"))
		r.Post("/signup", p.authSubmit("signup"))
		r.Get("/signin", p.authForm("signin"))
		r.Post("/signin", p.authSubmit("signin"))
		r.Post("/signout", p.signout)
		r.Get("/tickets/new", p.sellForm)
		r.Post("/tickets/new", p.sell)
		r.Get("/tickets/{id}", p.ticket)
		r.Post("/tickets/{id}/buy", p.buy)
		r.Get("/tickets/{id}/edit", p.editForm)
		r.Post("/tickets/{id}/edit", p.edit)
		r.Get("/events", p.events)
		r.Get("/events/{id}", p.event)
		r.Post("/events/{id}/join", p.join)
		r.Get("/events/{id}/tickets", p.eventTickets)
		r.Post("/events/{id}/buy", p.buyEventTicket)
		r.Get("/orders", p.orders)
		r.Get("/orders/{id}", p.order)
		r.Post("/orders/{id}/pay", p.pay)
		r.Post("/orders/{id}/razorpay", p.razorpayPaid)
		r.Post("/orders/{id}/cancel", p.cancel)
	})
	return r
}

// contentSecurityPolicy lets pages run only their own script, Stripe.js and Razorpay's
// checkout.js (each from its origin), and Stripe's and Razorpay's frames and API calls.
func contentSecurityPolicy(stripeJS, razorpayJS string) string {
	origins := ""
	for _, src := range []string{stripeJS, razorpayJS} {
		if u, err := url.Parse(src); err == nil && u.Host != "" {
			origins += " " + u.Scheme + "://" + u.Host
		}
	}
	return "default-src 'self'; script-src 'self'" + origins + "; frame-src" + origins + " https://hooks.stripe.com https://api.razorpay.com; " +
		"connect-src 'self' https://api.stripe.com https://api.razorpay.com" + origins + "; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'self'"
}

func (p *pages) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", p.csp)
		h.Set("Cache-Control", "no-store")
		// A form sent from another site is refused: the storefront forwards the visitor's
		// cookie to the API, so it must not act on forged requests (SameSite=Lax is the
		// first defence, this the second).
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !cweb.SameOrigin(r) {
			p.fail(w, r, &app.Error{Status: http.StatusForbidden, Errors: []app.FieldError{{Message: "This form was sent from another site."}}})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// visitor is who the request is made for.
func visitor(r *http.Request) app.Visitor {
	v := app.Visitor{RequestID: meta.RequestID(r.Context())}
	if c, err := r.Cookie(app.SessionCookie); err == nil {
		v.Session = c.Value
	}
	if c, err := r.Cookie(app.QueuePassCookie); err == nil {
		v.QueuePass = c.Value
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		v.ForwardedFor = host
		if prior := r.Header.Get("X-Forwarded-For"); prior != "" {
			v.ForwardedFor = prior + ", " + host
		}
	}
	return v
}

// view is what a page's template reads.
type view struct {
	Title  string
	User   *app.User
	Error  string
	Static string

	Next   string            // where signing in lands
	Form   map[string]string // submitted values
	Errs   map[string]string // messages per field
	Action string            // the form's action

	Tickets  []app.Ticket
	NextPage string

	Events   []app.Event
	Event    app.Event
	Place    *app.Place // the visitor's place in the event's waiting room, nil when not in it
	SaleOpen bool

	Ticket   app.Ticket
	IsSeller bool
	CanBuy   bool

	Orders []app.Order
	Order  app.Order
	Follow bool
	Pay    payView
}

type payView struct {
	Offline      bool
	Stripe       bool
	StripeJS     string
	Key          string
	ClientSecret string
	TestCards    []testCard
	// Razorpay: Checkout is opened with the key id, the Razorpay order, amount and currency.
	Razorpay        bool
	RazorpayJS      string
	RazorpayOrderID string
	Amount          int64
	Currency        string
}

type testCard struct{ Token, Label string }

// TestCards are the offline provider's cards: Stripe's test tokens.
var TestCards = []testCard{
	{"tok_visa", "Visa 4242 4242 4242 4242 (succeeds)"},
	{"tok_mastercard", "Mastercard 5555 5555 5555 4444 (succeeds)"},
	{"tok_chargeDeclined", "Declined card"},
	{"tok_chargeDeclinedInsufficientFunds", "Declined: insufficient funds"},
}

// render writes page name with status.
func (p *pages) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	v.Static = p.staticPrefix
	if v.Next == "" {
		v.Next = r.URL.RequestURI()
	}
	var buf bytes.Buffer
	if err := p.tmpl[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		p.log.ErrorContext(r.Context(), "render", "page", name, "err", err)
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail shows err on the error page: the API's 4xx status and message, or, for a fault, 502
// and a message without internals.
func (p *pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := app.AsError(err)
	if e.Status >= 500 {
		p.log.WarnContext(r.Context(), "API call failed", "err", err)
	}
	title := http.StatusText(e.Status)
	if e.Status == http.StatusNotFound {
		title = "Not found"
	}
	p.render(w, r, e.Status, "error.html", view{Title: title, User: p.userOrNil(r), Error: e.General()})
}

// userOrNil is the signed-in visitor, or nil (also when the API cannot say).
func (p *pages) userOrNil(r *http.Request) *app.User {
	u, err := p.api.CurrentUser(r.Context(), visitor(r))
	if err != nil {
		return nil
	}
	return u
}

// requireUser is the signed-in visitor; when there is none it sends them to sign in, to come
// back to back (or to this page), and returns nil.
func (p *pages) requireUser(w http.ResponseWriter, r *http.Request, back string) *app.User {
	u, err := p.api.CurrentUser(r.Context(), visitor(r))
	if err != nil {
		p.fail(w, r, err)
		return nil
	}
	if u == nil {
		toSignIn(w, r, back)
	}
	return u
}

func toSignIn(w http.ResponseWriter, r *http.Request, back string) {
	if back == "" {
		back = r.URL.RequestURI()
	}
	http.Redirect(w, r, "/signin?next="+url.QueryEscape(safeNext(back)), http.StatusSeeOther)
}

// safeNext is next when it is a path on this site, else "/".
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") || len(next) > 1024 {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

// form parses the request's form, bounded; false (after answering 400) when it cannot.
func (p *pages) form(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
		}
		p.fail(w, r, &app.Error{Status: status, Errors: []app.FieldError{{Message: "The form could not be read."}}})
		return false
	}
	return true
}

// passCookies hands the API's Set-Cookie headers (the session) to the browser.
func passCookies(w http.ResponseWriter, reply app.Reply) {
	for _, c := range reply.SetCookies {
		w.Header().Add("Set-Cookie", c)
	}
}

func (p *pages) home(w http.ResponseWriter, r *http.Request) {
	user, tickets, ok := paged(p, w, r, "/", func(ctx context.Context, after string) ([]app.Ticket, error) {
		return p.api.Tickets(ctx, visitor(r), PageSize, after)
	})
	if !ok {
		return
	}
	p.render(w, r, http.StatusOK, "home.html", view{Title: "Tickets for sale", User: user, Tickets: tickets,
		NextPage: nextPage("/", tickets, func(t app.Ticket) string { return t.ID })})
}

// paged loads, along with the signed-in visitor, the page of a list that follows ?after=; a
// malformed ?after= goes back to the list's first page. It reports false when it answered.
func paged[T any](p *pages, w http.ResponseWriter, r *http.Request, first string,
	load func(ctx context.Context, after string) ([]T, error)) (*app.User, []T, bool) {
	after := r.URL.Query().Get("after")
	user, items, err := withUser(p, r, func(ctx context.Context) ([]T, error) { return load(ctx, after) })
	if err != nil {
		if app.StatusOf(err) == http.StatusBadRequest { // a malformed ?after=
			http.Redirect(w, r, first, http.StatusSeeOther)
			return nil, nil, false
		}
		p.fail(w, r, err)
		return nil, nil, false
	}
	return user, items, true
}

// nextPage is the link to the page of the list at first that follows items, when they fill
// a page ("" otherwise).
func nextPage[T any](first string, items []T, id func(T) string) string {
	if len(items) < PageSize {
		return ""
	}
	return first + "?after=" + url.QueryEscape(id(items[len(items)-1]))
}

// withUser loads a page's data with load while it asks the API who the visitor is.
func withUser[T any](p *pages, r *http.Request, load func(ctx context.Context) (T, error)) (*app.User, T, error) {
	ctx := r.Context()
	return both(ctx, func() (*app.User, error) { return p.api.CurrentUser(ctx, visitor(r)) },
		func() (T, error) { return load(ctx) })
}

// both runs a and b at once: the current user and a page's data.
func both[A, B any](ctx context.Context, a func() (A, error), b func() (B, error)) (A, B, error) {
	type result struct {
		v   A
		err error
	}
	ch := make(chan result, 1)
	go func() { v, err := a(); ch <- result{v, err} }()
	bv, berr := b()
	ar := <-ch
	return ar.v, bv, errors.Join(ar.err, berr)
}

func (p *pages) authForm(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		next := safeNext(r.URL.Query().Get("next"))
		if u := p.userOrNil(r); u != nil {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		p.render(w, r, http.StatusOK, kind+".html", view{Title: authTitle(kind), Next: next, Action: "/" + kind})
	}
}

func authTitle(kind string) string {
	if kind == "signup" {
		return "Sign up"
	}
	return "Sign in"
}

func (p *pages) authSubmit(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !p.form(w, r) {
			return
		}
		next := safeNext(r.PostForm.Get("next"))
		cr := app.Credentials{Email: strings.TrimSpace(r.PostForm.Get("email")), Password: r.PostForm.Get("password")}
		call := p.api.SignIn
		if kind == "signup" {
			call = p.api.SignUp
		}
		reply, err := call(r.Context(), visitor(r), cr)
		if err != nil {
			e := app.AsError(err)
			if e.Status >= 500 {
				p.fail(w, r, err)
				return
			}
			p.render(w, r, e.Status, kind+".html", view{Title: authTitle(kind), Next: next, Action: "/" + kind,
				Form:  map[string]string{"email": cr.Email},
				Errs:  map[string]string{"email": e.Field("email"), "password": e.Field("password")},
				Error: e.General("email", "password")})
			return
		}
		passCookies(w, reply)
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

func (p *pages) signout(w http.ResponseWriter, r *http.Request) {
	reply, err := p.api.SignOut(r.Context(), visitor(r))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	passCookies(w, reply)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (p *pages) sellForm(w http.ResponseWriter, r *http.Request) {
	u := p.requireUser(w, r, "")
	if u == nil {
		return
	}
	p.render(w, r, http.StatusOK, "ticket_form.html", view{Title: "Sell a ticket", User: u, Action: "/tickets/new"})
}

func (p *pages) sell(w http.ResponseWriter, r *http.Request) {
	p.saveTicket(w, r, "", "/tickets/new", "Sell a ticket")
}

func (p *pages) editForm(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	u := p.requireUser(w, r, "")
	if u == nil {
		return
	}
	t, err := p.api.Ticket(r.Context(), visitor(r), id)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if t.UserID != u.ID {
		p.fail(w, r, &app.Error{Status: http.StatusForbidden, Errors: []app.FieldError{{Message: "Only the seller can edit this ticket."}}})
		return
	}
	p.render(w, r, http.StatusOK, "ticket_form.html", view{Title: "Edit " + t.Title, User: u, Action: "/tickets/" + url.PathEscape(id) + "/edit",
		Form: map[string]string{"title": t.Title, "price": t.Price.String()}})
}

func (p *pages) edit(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	p.saveTicket(w, r, id, "/tickets/"+url.PathEscape(id)+"/edit", "Edit ticket")
}

// saveTicket creates (id "") or edits a ticket from the form and lands on its page; the
// API's validation messages go next to their fields.
func (p *pages) saveTicket(w http.ResponseWriter, r *http.Request, id, action, title string) {
	if !p.form(w, r) {
		return
	}
	u := p.requireUser(w, r, action)
	if u == nil {
		return
	}
	in := app.TicketInput{Title: r.PostForm.Get("title"), Price: r.PostForm.Get("price")}
	var t app.Ticket
	var err error
	if id == "" {
		t, err = p.api.CreateTicket(r.Context(), visitor(r), in)
	} else {
		t, err = p.api.UpdateTicket(r.Context(), visitor(r), id, in)
	}
	if err != nil {
		e := app.AsError(err)
		if e.Status >= 500 || e.Status == http.StatusNotFound || e.Status == http.StatusForbidden {
			p.fail(w, r, err)
			return
		}
		p.render(w, r, e.Status, "ticket_form.html", view{Title: title, User: u, Action: action,
			Form:  map[string]string{"title": in.Title, "price": in.Price},
			Errs:  map[string]string{"title": e.Field("title"), "price": e.Field("price")},
			Error: e.General("title", "price")})
		return
	}
	http.Redirect(w, r, "/tickets/"+url.PathEscape(t.ID), http.StatusSeeOther)
}

func (p *pages) ticket(w http.ResponseWriter, r *http.Request) {
	p.showTicket(w, r, http.StatusOK, "")
}

func (p *pages) showTicket(w http.ResponseWriter, r *http.Request, status int, msg string) {
	id := chi.URLParam(r, "id")
	u, t, err := withUser(p, r, func(ctx context.Context) (app.Ticket, error) { return p.api.Ticket(ctx, visitor(r), id) })
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if t.Status == "" { // an API without the field: free when no order holds it
		t.Status = "available"
		if t.OrderID != nil {
			t.Status = "reserved"
		}
	}
	seller := u != nil && u.ID == t.UserID
	p.render(w, r, status, "ticket.html", view{Title: t.Title, User: u, Ticket: t, IsSeller: seller,
		CanBuy: !seller && t.Status == "available", Error: msg, Next: "/tickets/" + url.PathEscape(id)})
}

func (p *pages) buy(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	p.orderTicket(w, r, id, "/tickets/"+url.PathEscape(id), func(status int, msg string) { p.showTicket(w, r, status, msg) })
}

// orderTicket orders ticketID for the visitor (their queue pass travels with the call) and
// lands on the order. A refusal is shown by again, the page the Buy was on, with the API's
// status and message; signed out, the visitor signs in and comes back to back.
func (p *pages) orderTicket(w http.ResponseWriter, r *http.Request, ticketID, back string, again func(status int, msg string)) {
	if visitor(r).Session == "" {
		toSignIn(w, r, back)
		return
	}
	o, err := p.api.CreateOrder(r.Context(), visitor(r), ticketID)
	if err != nil {
		e := app.AsError(err)
		switch {
		case e.Status == http.StatusUnauthorized:
			toSignIn(w, r, back)
		case e.Status >= 500:
			p.fail(w, r, err)
		case e.Status == http.StatusNotFound:
			// The page the Buy was on shows the ticket (it answers 404 when there is none):
			// the orders service has not heard of this new ticket yet.
			again(http.StatusConflict, "This ticket cannot be ordered yet. Please try again in a moment.")
		default:
			again(e.Status, e.General())
		}
		return
	}
	http.Redirect(w, r, "/orders/"+url.PathEscape(o.ID), http.StatusSeeOther)
}

func (p *pages) orders(w http.ResponseWriter, r *http.Request) {
	u := p.requireUser(w, r, "")
	if u == nil {
		return
	}
	list, err := p.api.Orders(r.Context(), visitor(r))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "orders.html", view{Title: "My orders", User: u, Orders: list})
}

func (p *pages) order(w http.ResponseWriter, r *http.Request) {
	p.showOrder(w, r, http.StatusOK, "", r.URL.Query().Get("paid") == "1")
}

// showOrder renders the order page; with Stripe, an open order gets its PaymentIntent's
// client secret for the Payment Element.
func (p *pages) showOrder(w http.ResponseWriter, r *http.Request, status int, msg string, follow bool) {
	id := chi.URLParam(r, "id")
	u := p.requireUser(w, r, "/orders/"+url.PathEscape(id))
	if u == nil {
		return
	}
	ctx := r.Context()
	o, err := p.api.Order(ctx, visitor(r), id)
	if err != nil {
		if app.StatusOf(err) == http.StatusForbidden {
			err = &app.Error{Status: http.StatusNotFound, Errors: []app.FieldError{{Message: "Not found"}}}
		}
		p.fail(w, r, err)
		return
	}
	v := view{Title: "Order for " + o.Ticket.Title, User: u, Order: o, Error: msg, Follow: follow}
	switch causes := o.Causes(); {
	case o.Status != app.OrderCanceled || msg != "":
	case slices.Contains(causes, "ticket-changed"):
		v.Error = "The seller changed this ticket before your order reached it, so the order was cancelled; any payment is refunded."
	case !time.Now().Before(o.ExpiresAt):
		v.Error = "Your hold expired and the ticket was released."
	}
	if o.Open() && !follow {
		cfg, err := p.api.PaymentConfig(ctx)
		switch {
		case err != nil:
			v.Error = strings.TrimSpace(v.Error + " Payment is unavailable at the moment.")
		case cfg.Provider == app.ProviderStripe:
			pay, err := p.api.Pay(ctx, visitor(r), o.ID, "")
			if err != nil {
				v.Error = strings.TrimSpace(v.Error + " " + app.AsError(err).General())
				break
			}
			v.Pay = payView{Stripe: true, StripeJS: p.opts.StripeJSURL, Key: cfg.PublishableKey, ClientSecret: pay.ClientSecret}
		case cfg.Provider == app.ProviderRazorpay:
			pay, err := p.api.Pay(ctx, visitor(r), o.ID, "")
			if err != nil {
				v.Error = strings.TrimSpace(v.Error + " " + app.AsError(err).General())
				break
			}
			v.Pay = payView{Razorpay: true, RazorpayJS: p.opts.RazorpayCheckoutURL, Key: pay.KeyID,
				RazorpayOrderID: pay.RazorpayOrderID, Amount: pay.Amount, Currency: pay.Currency}
		default:
			v.Pay = payView{Offline: true, TestCards: TestCards}
		}
	}
	p.render(w, r, status, "order.html", v)
}

// razorpayPaid hands what Razorpay Checkout returned to the API, which verifies its
// signature and records the payment, then follows the order until it is complete.
func (p *pages) razorpayPaid(w http.ResponseWriter, r *http.Request) {
	id, ok := p.orderForm(w, r)
	if !ok {
		return
	}
	in := app.RazorpayCheckout{PaymentID: r.PostForm.Get("razorpay_payment_id"), OrderID: r.PostForm.Get("razorpay_order_id"),
		Signature: r.PostForm.Get("razorpay_signature")}
	_, err := p.api.VerifyRazorpay(r.Context(), visitor(r), in)
	p.paid(w, r, id, err, "")
}

// orderForm reads the form posted to an order's page; a visitor who is not signed in is sent
// to sign in and back. It reports false when it answered.
func (p *pages) orderForm(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := chi.URLParam(r, "id")
	if !p.form(w, r) {
		return "", false
	}
	if visitor(r).Session == "" {
		toSignIn(w, r, "/orders/"+url.PathEscape(id))
		return "", false
	}
	return id, true
}

// paid answers a payment of order id that the API answered with err: on success the order
// page follows the order; a refusal shows on the page (refused400 instead of the API's
// words for a 400, when given).
func (p *pages) paid(w http.ResponseWriter, r *http.Request, id string, err error, refused400 string) {
	if err == nil {
		http.Redirect(w, r, "/orders/"+url.PathEscape(id)+"?paid=1", http.StatusSeeOther)
		return
	}
	e := app.AsError(err)
	switch {
	case e.Status == http.StatusUnauthorized:
		toSignIn(w, r, "/orders/"+url.PathEscape(id))
	case e.Status >= 500:
		p.fail(w, r, err)
	case e.Status == http.StatusBadRequest && refused400 != "":
		p.showOrder(w, r, e.Status, refused400, false)
	default:
		p.showOrder(w, r, e.Status, e.General(), false)
	}
}

func (p *pages) pay(w http.ResponseWriter, r *http.Request) {
	id, ok := p.orderForm(w, r)
	if !ok {
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		p.showOrder(w, r, http.StatusBadRequest, "Choose a card.", false)
		return
	}
	_, err := p.api.Pay(r.Context(), visitor(r), id, token)
	p.paid(w, r, id, err, "That card cannot be used. Choose another.")
}

func (p *pages) cancel(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if visitor(r).Session == "" {
		toSignIn(w, r, "/orders/"+url.PathEscape(id))
		return
	}
	if err := p.api.CancelOrder(r.Context(), visitor(r), id); err != nil {
		e := app.AsError(err)
		if e.Status >= 500 || e.Status == http.StatusNotFound || e.Status == http.StatusForbidden {
			p.fail(w, r, err)
			return
		}
		p.showOrder(w, r, e.Status, e.General(), false)
		return
	}
	http.Redirect(w, r, "/orders/"+url.PathEscape(id), http.StatusSeeOther)
}

// staticVersion changes with the static files' content, so they can be cached for good.
var staticVersion = func() string {
	h := uint64(14695981039346656037)
	_ = fs.WalkDir(staticFiles, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := staticFiles.ReadFile(path)
		for _, c := range append([]byte(path), b...) {
			h ^= uint64(c)
			h *= 1099511628211
		}
		return nil
	})
	return strconv.FormatUint(h>>24, 36)
}()

var staticFS = func() http.Handler {
	sub, _ := fs.Sub(staticFiles, "static")
	return http.FileServer(http.FS(sub))
}()

// serveStatic serves the embedded files under /static/<version>/, cacheable for a year.
func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "*")
	if strings.HasSuffix(name, "/") || name == "" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + name
	staticFS.ServeHTTP(w, r2)
}

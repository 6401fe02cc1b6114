package api

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing/services/web/internal/app"
)

// The on-sale pages: the events, an event with its waiting room, and, once the waiting room
// admitted the visitor, the event's free tickets. The queue pass the waiting room sets as a
// cookie reaches the browser (from the API directly when the page's script asks for the
// place, or through the storefront, which passes the Set-Cookie of its own calls on), and
// comes back with every call the storefront makes for the visitor, as the session does.

// events lists the events, soonest on-sale first.
func (p *pages) events(w http.ResponseWriter, r *http.Request) {
	user, list, ok := paged(p, w, r, "/events", func(ctx context.Context, after string) ([]app.Event, error) {
		return p.api.Events(ctx, visitor(r), PageSize, after)
	})
	if !ok {
		return
	}
	p.render(w, r, http.StatusOK, "events.html", view{Title: "Events", User: user, Events: list,
		NextPage: nextPage("/events", list, func(e app.Event) string { return e.ID })})
}

func (p *pages) event(w http.ResponseWriter, r *http.Request) {
	p.showEvent(w, r, http.StatusOK, "")
}

// showEvent renders an event's page: the event, and for a signed-in visitor (not its seller)
// their place in its waiting room, or Join when they are not in it.
func (p *pages) showEvent(w http.ResponseWriter, r *http.Request, status int, msg string) {
	id := chi.URLParam(r, "id")
	u, ev, err := withUser(p, r, func(ctx context.Context) (app.Event, error) { return p.api.Event(ctx, visitor(r), id) })
	if err != nil {
		p.fail(w, r, err)
		return
	}
	v := view{Title: ev.Title, User: u, Event: ev, IsSeller: u != nil && u.ID == ev.UserID, Error: msg,
		SaleOpen: !time.Now().Before(ev.OnSaleAt), Next: "/events/" + url.PathEscape(id)}
	if u != nil && !v.IsSeller {
		place, reply, err := p.api.QueuePlace(r.Context(), visitor(r), id)
		switch {
		case err == nil:
			passCookies(w, reply)
			v.Place = &place
		case app.StatusOf(err) == http.StatusNotFound: // not in the waiting room: Join
		default:
			v.Error = app.AsError(err).General()
		}
	}
	p.render(w, r, status, "event.html", v)
}

// join puts the visitor in the event's waiting room and shows their place, or, when they are
// admitted at once, the event's tickets.
func (p *pages) join(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	back := "/events/" + url.PathEscape(id)
	if visitor(r).Session == "" {
		toSignIn(w, r, back)
		return
	}
	place, reply, err := p.api.JoinQueue(r.Context(), visitor(r), id)
	if err != nil {
		e := app.AsError(err)
		switch {
		case e.Status == http.StatusUnauthorized:
			toSignIn(w, r, back)
		case e.Status >= 500:
			p.fail(w, r, err)
		case e.Status == http.StatusNotFound:
			// The event page exists (showEvent answers 404 when it does not): the waiting
			// room has not heard of this new event yet.
			p.showEvent(w, r, http.StatusConflict, "The waiting room of this event is not open yet. Please try again in a moment.")
		default:
			p.showEvent(w, r, e.Status, e.General())
		}
		return
	}
	passCookies(w, reply)
	if place.Status == app.QueueAdmitted {
		back += "/tickets"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func (p *pages) eventTickets(w http.ResponseWriter, r *http.Request) {
	p.showEventTickets(w, r, http.StatusOK, "")
}

// showEventTickets renders the free tickets of an event, each with Buy, to a visitor the
// waiting room admitted; anyone else is sent to the event's page (to sign in, join, wait).
func (p *pages) showEventTickets(w http.ResponseWriter, r *http.Request, status int, msg string) {
	id := chi.URLParam(r, "id")
	u := p.requireUser(w, r, "")
	if u == nil {
		return
	}
	ctx := r.Context()
	ev, err := p.api.Event(ctx, visitor(r), id)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	place, reply, err := p.api.QueuePlace(ctx, visitor(r), id)
	if err != nil && app.StatusOf(err) != http.StatusNotFound {
		p.fail(w, r, err)
		return
	}
	if err != nil || place.Status != app.QueueAdmitted {
		http.Redirect(w, r, "/events/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	passCookies(w, reply)
	first := "/events/" + url.PathEscape(id) + "/tickets"
	tickets, err := p.api.EventTickets(ctx, visitor(r), id, PageSize, r.URL.Query().Get("after"))
	if err != nil {
		if app.StatusOf(err) == http.StatusBadRequest { // a malformed ?after=
			http.Redirect(w, r, first, http.StatusSeeOther)
			return
		}
		p.fail(w, r, err)
		return
	}
	v := view{Title: "Tickets for " + ev.Title, User: u, Event: ev, Place: &place, Tickets: tickets, Error: msg, SaleOpen: true,
		NextPage: nextPage(first, tickets, func(t app.Ticket) string { return t.ID })}
	p.render(w, r, status, "event_tickets.html", v)
}

// buyEventTicket orders the ticket chosen on the event's tickets page; a refusal (taken by
// someone else a moment ago, the buyer's limit) shows on that page.
func (p *pages) buyEventTicket(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if !p.form(w, r) {
		return
	}
	ticketID := r.PostForm.Get("ticket")
	again := func(status int, msg string) { p.showEventTickets(w, r, status, msg) }
	if ticketID == "" {
		again(http.StatusBadRequest, "Choose a ticket.")
		return
	}
	p.orderTicket(w, r, ticketID, "/events/"+url.PathEscape(id), again)
}

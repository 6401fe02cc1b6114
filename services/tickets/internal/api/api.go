// Package api serves /api/tickets: thin handlers that decode, call the application, and map
// the result; toHTTP maps the domain's errors to the API's in one place.
package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"ticketing/common/errs"
	"ticketing/common/idempotency"
	"ticketing/common/openapi"
	"ticketing/common/web"
	"ticketing/services/tickets/internal/app"
	"ticketing/services/tickets/internal/event"
	"ticketing/services/tickets/internal/ticket"
)

// Paging of GET /api/tickets.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

type handlers struct {
	app  *app.Service
	idem *idempotency.Store
}

// Mount adds the tickets routes, and the OpenAPI document that describes them, to r at their
// public paths.
//
// idem makes POST safe to retry with an Idempotency-Key (nil: the header is ignored).
func Mount(r chi.Router, svc *app.Service, idem *idempotency.Store) {
	h := &handlers{app: svc, idem: idem}
	r.Route("/api/tickets", func(r chi.Router) {
		r.Method(http.MethodGet, openapi.Path, openapi.Handler(OpenAPI))
		r.Get("/", h.list)
		r.With(web.RequireAuth, idem.Middleware).Post("/", h.create)
		r.Get("/{id}", h.get)
		r.With(web.RequireAuth).Put("/{id}", h.update)
	})
	mountEvents(r, h)
}

func (h *handlers) create(w http.ResponseWriter, r *http.Request) {
	var req ticketRequest
	if err := web.Decode(w, r, &req); err != nil {
		web.Error(w, r, err)
		return
	}
	d, err := req.details()
	if err != nil {
		web.Error(w, r, err)
		return
	}
	t, err := h.app.Create(r.Context(), web.MustUser(r).ID, d)
	if err != nil {
		web.Error(w, r, toHTTP(err))
		return
	}
	w.Header().Set("Cache-Control", web.CacheNone)
	web.Respond(w, http.StatusCreated, toResponse(t))
}

// get and list answer the same to everyone: public, a second's life, an ETag (the version,
// or the digest of the page) and 304 to If-None-Match; errors are not kept.
func (h *handlers) get(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", web.CacheNone)
	t, err := h.app.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		web.Error(w, r, toHTTP(err))
		return
	}
	if web.NotModified(w, r, `"`+strconv.FormatInt(t.Version, 10)+`"`, web.CachePublic) {
		return
	}
	web.Respond(w, http.StatusOK, toResponse(t))
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", web.CacheNone)
	limit, after, err := page(r, "after must be the id of a ticket")
	eventID := r.URL.Query().Get("eventId")
	if err == nil && eventID != "" && !app.ValidID(eventID) {
		err = errs.Field("eventId", "eventId must be the id of an event")
	}
	if err != nil {
		web.Error(w, r, err)
		return
	}
	list, err := h.app.ListFree(r.Context(), eventID, after, limit)
	if err != nil {
		web.Error(w, r, toHTTP(err))
		return
	}
	if web.NotModified(w, r, `"`+list.Digest+`"`, web.CachePublic) {
		return
	}
	out := make([]ticketResponse, len(list.Tickets))
	for i, t := range list.Tickets {
		out[i] = toResponse(t)
	}
	web.Respond(w, http.StatusOK, out)
}

func (h *handlers) update(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if !app.ValidID(id) { // before the body: a path that names no ticket is 404 whatever it carries
		web.Error(w, r, toHTTP(ticket.ErrNotFound))
		return
	}
	var req ticketRequest
	if err := web.Decode(w, r, &req); err != nil {
		web.Error(w, r, err)
		return
	}
	d, err := req.details()
	if err != nil {
		web.Error(w, r, err)
		return
	}
	t, err := h.app.Edit(r.Context(), web.MustUser(r).ID, id, d)
	if err != nil {
		web.Error(w, r, toHTTP(err))
		return
	}
	w.Header().Set("Cache-Control", web.CacheNone)
	web.Respond(w, http.StatusOK, toResponse(t))
}

// toHTTP maps the domain's and the application's errors to the API's, in one place; anything
// else is a fault.
func toHTTP(err error) error {
	var v errs.Validation
	for _, r := range detailRules {
		v.Check(!errors.Is(err, r.err), r.field, r.message)
	}
	switch {
	case v.Err() != nil:
		return v.Err()
	case errors.Is(err, ticket.ErrNotFound):
		return errs.New(errs.NotFound, "Ticket not found")
	case errors.Is(err, event.ErrNotFound):
		return errs.New(errs.NotFound, "Event not found")
	case errors.Is(err, ticket.ErrNotOwner):
		return errs.New(errs.Forbidden, "You do not own this ticket")
	case errors.Is(err, ticket.ErrReserved):
		return errs.New(errs.Conflict, "Cannot edit a reserved ticket")
	case errors.Is(err, app.ErrContended):
		return errs.Wrap(errs.Conflict, err, "The ticket changed while it was being saved; try again")
	default:
		return errs.Wrap(errs.Internal, err, "")
	}
}

// detailRules word the rules of a ticket's details for clients, each on its field.
var detailRules = []struct {
	err            error
	field, message string
}{
	{ticket.ErrTitleRequired, "title", "Title is required"},
	{ticket.ErrTitleTooLong, "title", "Title must be at most 200 characters"},
	{ticket.ErrTitleNotUTF8, "title", "Title must be valid UTF-8"},
	{ticket.ErrTitleControl, "title", "Title must not contain control characters"},
	{ticket.ErrPriceRequired, "price", "Price is required"},
	{ticket.ErrPriceNotNumber, "price", "Price must be a number"},
	{ticket.ErrPriceNotAbove0, "price", "Price must be greater than 0"},
	{ticket.ErrPriceDecimals, "price", "Price must have at most 2 decimals"},
	{ticket.ErrPriceTooHigh, "price", "Price must be at most 1000000"},
}

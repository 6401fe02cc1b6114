// Package api is the REST side of the orders service: /api/orders.
package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"ticketing/common/errs"
	"ticketing/common/openapi"
	"ticketing/common/web"
	"ticketing/services/orders/internal/app"
	"ticketing/services/orders/internal/order"
)

// Listing limits of GET /api/orders.
const (
	DefaultLimit = 100
	MaxLimit     = 500
)

// Routes mounts /api/orders on r. Every route needs a signed-in user, except the OpenAPI
// document at /api/orders/openapi.json.
func Routes(r chi.Router, svc *app.Service) {
	h := handlers{svc: svc}
	r.Method(http.MethodGet, "/api/orders"+openapi.Path, openapi.Handler(OpenAPI))
	r.Route("/api/orders", func(r chi.Router) {
		r.Use(web.RequireAuth)
		r.Post("/", h.create)
		r.Get("/", h.list)
		r.Get("/{id}", h.get)
		r.Delete("/{id}", h.cancel)
	})
}

type handlers struct{ svc *app.Service }

func (h handlers) create(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	err := web.Decode(w, r, &req)
	if err == nil {
		err = req.validate()
	}
	if err != nil {
		web.Error(w, r, err)
		return
	}
	o, err := h.svc.Create(r.Context(), web.MustUser(r).ID, req.TicketID)
	if err != nil {
		web.Error(w, r, toHTTP(err))
		return
	}
	w.Header().Set("Location", "/api/orders/"+o.ID)
	web.Respond(w, http.StatusCreated, toResponse(o))
}

func (h handlers) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := DefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			web.Error(w, r, errs.Field("limit", "limit must be an integer from 1 to "+strconv.Itoa(MaxLimit)))
			return
		}
		limit = n
	}
	list, err := h.svc.List(r.Context(), web.MustUser(r).ID, q.Get("after"), limit)
	if err != nil {
		web.Error(w, r, toHTTP(err))
		return
	}
	out := make([]orderResponse, len(list))
	for i, o := range list {
		out[i] = toResponse(o)
	}
	web.Respond(w, http.StatusOK, out)
}

func (h handlers) get(w http.ResponseWriter, r *http.Request) {
	o, err := h.svc.Get(r.Context(), web.MustUser(r).ID, chi.URLParam(r, "id"))
	if err != nil {
		web.Error(w, r, toHTTP(err))
		return
	}
	web.Respond(w, http.StatusOK, toResponse(o))
}

func (h handlers) cancel(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.Cancel(r.Context(), web.MustUser(r).ID, chi.URLParam(r, "id")); err != nil {
		web.Error(w, r, toHTTP(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// toHTTP maps the domain's errors to the API's, in one place; anything else is a fault.
func toHTTP(err error) error {
	switch {
	case errors.Is(err, order.ErrNotFound):
		return errs.New(errs.NotFound, "Order not found")
	case errors.Is(err, order.ErrForbidden):
		return errs.New(errs.Forbidden, "Not allowed to access this order")
	case errors.Is(err, order.ErrComplete):
		return errs.New(errs.Conflict, "Cannot cancel a complete order")
	case errors.Is(err, order.ErrTicketNotFound):
		return errs.New(errs.NotFound, "Ticket not found")
	case errors.Is(err, order.ErrOwnTicket):
		return errs.New(errs.Forbidden, "Cannot order your own ticket")
	case errors.Is(err, order.ErrTicketReserved):
		return errs.New(errs.Conflict, "Ticket is already reserved")
	default:
		return errs.Wrap(errs.Internal, err, "")
	}
}

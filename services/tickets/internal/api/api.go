// Package api serves /api/tickets: thin handlers that decode, call the domain and the store,
// and map the result.
package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/bus"
	"ticketing/common/errs"
	"ticketing/common/openapi"
	"ticketing/common/web"
	"ticketing/services/tickets/internal/store"
	"ticketing/services/tickets/internal/ticket"
)

// Paging of GET /api/tickets.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// editAttempts bounds the read-compute-write rounds of one PUT when concurrent writes win
// the race (each round is one read and one conditional write).
const editAttempts = 50

type handlers struct {
	store  *store.Store
	outbox bus.Notifier
	now    func() time.Time
}

// Mount adds the tickets routes, and the OpenAPI document that describes them, to r at their
// public paths.
func Mount(r chi.Router, st *store.Store, outbox bus.Notifier) {
	h := &handlers{store: st, outbox: outbox, now: time.Now}
	r.Route("/api/tickets", func(r chi.Router) {
		r.Method(http.MethodGet, openapi.Path, openapi.Handler(OpenAPI))
		r.Get("/", h.list)
		r.With(web.RequireAuth).Post("/", h.create)
		r.Get("/{id}", h.get)
		r.With(web.RequireAuth).Put("/{id}", h.update)
	})
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
	t := ticket.New(bson.NewObjectID().Hex(), web.MustUser(r).ID, d, h.now())
	env, err := h.store.Create(r.Context(), t)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	h.outbox.Notify(t.ID, env)
	web.Respond(w, http.StatusCreated, toResponse(t))
}

func (h *handlers) get(w http.ResponseWriter, r *http.Request) {
	id, ok := ticketID(r)
	if !ok {
		web.Error(w, r, store.ErrNotFound)
		return
	}
	t, err := h.store.Get(r.Context(), id)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.Respond(w, http.StatusOK, toResponse(t))
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request) {
	var v errs.Validation
	q := r.URL.Query()
	limit := DefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			v.Add("limit", "limit must be an integer from 1 to 500")
		}
		limit = n
	}
	after := q.Get("after")
	if after != "" {
		oid, err := bson.ObjectIDFromHex(after)
		if err != nil {
			v.Add("after", "after must be the id of a ticket")
		}
		after = oid.Hex()
	}
	if err := v.Err(); err != nil {
		web.Error(w, r, err)
		return
	}
	tickets, err := h.store.ListFree(r.Context(), after, limit)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	out := make([]ticketResponse, len(tickets))
	for i, t := range tickets {
		out[i] = toResponse(t)
	}
	web.Respond(w, http.StatusOK, out)
}

func (h *handlers) update(w http.ResponseWriter, r *http.Request) {
	id, ok := ticketID(r)
	if !ok {
		web.Error(w, r, store.ErrNotFound)
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
	user := web.MustUser(r).ID
	t, queued, err := h.store.Update(r.Context(), id, editAttempts, func(t ticket.Ticket) (ticket.Ticket, error) {
		return t.Edit(user, d)
	})
	if errors.Is(err, store.ErrLostRace) {
		err = errs.Wrap(errs.Conflict, err, "The ticket changed while it was being saved; try again")
	}
	if err != nil {
		web.Error(w, r, err)
		return
	}
	if len(queued) > 0 {
		h.outbox.Notify(t.ID, queued...)
	}
	web.Respond(w, http.StatusOK, toResponse(t))
}

// ticketID is the {id} of the path when it can name a ticket: the hex form of an ObjectID,
// as the service makes them. Anything else names no ticket.
func ticketID(r *http.Request) (string, bool) {
	id := chi.URLParam(r, "id")
	oid, err := bson.ObjectIDFromHex(id)
	return id, err == nil && oid.Hex() == id
}

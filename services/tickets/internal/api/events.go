package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/errs"
	"ticketing/common/web"
	"ticketing/services/tickets/internal/app"
	"ticketing/services/tickets/internal/event"
	"ticketing/services/tickets/internal/ticket"
)

// eventRequest is the body of POST /api/events. OnSaleAt is RFC 3339 text; the price is the
// raw JSON number, as for a ticket.
type eventRequest struct {
	Title    *string `json:"title"`
	OnSaleAt *string `json:"onSaleAt"`
	Tickets  *struct {
		Count *int            `json:"count"`
		Price json.RawMessage `json:"price"`
	} `json:"tickets"`
	MaxPerUser     *int `json:"maxPerUser"`
	AdmitPerMinute *int `json:"admitPerMinute"`
}

// spec checks the request with the domain's rules; the error names each field at fault.
func (b eventRequest) spec() (event.Spec, error) {
	r := event.Request{Title: b.Title, MaxPerUser: b.MaxPerUser, AdmitPerMinute: b.AdmitPerMinute}
	var v errs.Validation
	if b.OnSaleAt != nil {
		at, err := time.Parse(time.RFC3339Nano, *b.OnSaleAt)
		if err != nil {
			v.Add("onSaleAt", "onSaleAt must be an RFC 3339 time")
			at = time.Unix(1, 0) // checked: only the other fields' rules remain to report
		}
		r.OnSaleAt = &at
	}
	if b.Tickets != nil {
		r.Count = b.Tickets.Count
		if raw := bytes.TrimSpace(b.Tickets.Price); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
			s := string(raw)
			r.Price = &s
		}
	}
	s, err := event.NewSpec(r)
	for _, rule := range eventRules {
		v.Check(!errors.Is(err, rule.err), rule.field, rule.message)
	}
	if verr := v.Err(); verr != nil {
		return event.Spec{}, verr
	}
	if err != nil {
		return event.Spec{}, errs.Wrap(errs.Internal, err, "")
	}
	return s, nil
}

// eventRules word the rules of an event for clients, each on its field.
var eventRules = []struct {
	err            error
	field, message string
}{
	{ticket.ErrTitleRequired, "title", "Title is required"},
	{ticket.ErrTitleTooLong, "title", "Title must be at most 190 characters"},
	{event.ErrTitleTooLong, "title", "Title must be at most 190 characters"},
	{ticket.ErrTitleNotUTF8, "title", "Title must be valid UTF-8"},
	{ticket.ErrTitleControl, "title", "Title must not contain control characters"},
	{event.ErrOnSaleAtRequired, "onSaleAt", "onSaleAt is required"},
	{event.ErrCountRange, "tickets.count", "tickets.count must be an integer from 1 to 10000"},
	{ticket.ErrPriceRequired, "tickets.price", "tickets.price is required"},
	{ticket.ErrPriceNotNumber, "tickets.price", "tickets.price must be a number"},
	{ticket.ErrPriceNotAbove0, "tickets.price", "tickets.price must be greater than 0"},
	{ticket.ErrPriceDecimals, "tickets.price", "tickets.price must have at most 2 decimals"},
	{ticket.ErrPriceTooHigh, "tickets.price", "tickets.price must be at most 1000000"},
	{event.ErrMaxPerUserRange, "maxPerUser", "maxPerUser must be an integer from 1 to 50"},
	{event.ErrAdmitRange, "admitPerMinute", "admitPerMinute must be an integer from 1 to 100000"},
}

// eventResponse is an event as the API shows it; Available may lag the orders by a moment.
type eventResponse struct {
	ID             string      `json:"id"`
	Title          string      `json:"title"`
	UserID         string      `json:"userId"`
	OnSaleAt       time.Time   `json:"onSaleAt"`
	TicketCount    int         `json:"ticketCount"`
	Price          json.Number `json:"price"`
	Available      int         `json:"available"`
	MaxPerUser     int         `json:"maxPerUser"`
	AdmitPerMinute int         `json:"admitPerMinute"`
	Version        int64       `json:"version"`
}

func toEventResponse(e app.EventView) eventResponse {
	return eventResponse{
		ID: e.ID, Title: e.Title, UserID: e.UserID, OnSaleAt: e.OnSaleAt.UTC(), TicketCount: e.TicketCount,
		Price: json.Number(ticket.FormatPrice(e.PriceCents)), Available: e.Available,
		MaxPerUser: e.MaxPerUser, AdmitPerMinute: e.AdmitPerMinute, Version: e.Version,
	}
}

// mountEvents adds the /api/events routes to r.
func mountEvents(r chi.Router, h *handlers) {
	r.Route("/api/events", func(r chi.Router) {
		r.Get("/", h.listEvents)
		r.With(web.RequireAuth, h.idem.Middleware).Post("/", h.createEvent)
		r.Get("/{id}", h.getEvent)
	})
}

func (h *handlers) createEvent(w http.ResponseWriter, r *http.Request) {
	var req eventRequest
	if err := web.Decode(w, r, &req); err != nil {
		web.Error(w, r, err)
		return
	}
	spec, err := req.spec()
	if err != nil {
		web.Error(w, r, err)
		return
	}
	e, err := h.app.CreateEvent(r.Context(), web.MustUser(r).ID, spec)
	if err != nil {
		web.Error(w, r, toHTTP(err))
		return
	}
	w.Header().Set("Location", "/api/events/"+e.ID)
	web.Respond(w, http.StatusCreated, toEventResponse(e))
}

func (h *handlers) getEvent(w http.ResponseWriter, r *http.Request) {
	e, err := h.app.GetEvent(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		web.Error(w, r, toHTTP(err))
		return
	}
	web.Respond(w, http.StatusOK, toEventResponse(e))
}

func (h *handlers) listEvents(w http.ResponseWriter, r *http.Request) {
	limit, after, err := page(r, "after must be the id of an event")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	list, err := h.app.ListEvents(r.Context(), after, limit)
	if errors.Is(err, event.ErrNotFound) {
		err = errs.Field("after", "after must be the id of an event")
	}
	if err != nil {
		web.Error(w, r, toHTTP(err))
		return
	}
	out := make([]eventResponse, len(list))
	for i, e := range list {
		out[i] = toEventResponse(e)
	}
	web.Respond(w, http.StatusOK, out)
}

// page reads ?limit= and ?after= of a listing; afterMessage words a malformed after.
func page(r *http.Request, afterMessage string) (int, string, error) {
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
			v.Add("after", afterMessage)
		}
		after = oid.Hex()
	}
	return limit, after, v.Err()
}

// Package api serves /api/queue: thin handlers that call the application and map the result;
// toHTTP maps the domain's errors in one place.
package api

import (
	"errors"
	"math"
	"net/http"
	"regexp"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing/common/authn"
	"ticketing/common/errs"
	"ticketing/common/openapi"
	"ticketing/common/web"
	"ticketing/services/queue/internal/app"
	"ticketing/services/queue/internal/line"
)

// eventID is the shape of an event id; anything else names no event (404).
var eventID = regexp.MustCompile(`^[0-9a-f]{24}$`)

type handlers struct {
	app          *app.Service
	secureCookie bool
}

// Mount adds the waiting-room routes, and their OpenAPI document, to r. secureCookie marks
// the pass cookie Secure.
func Mount(r chi.Router, svc *app.Service, secureCookie bool) {
	h := &handlers{app: svc, secureCookie: secureCookie}
	r.Route("/api/queue", func(r chi.Router) {
		r.Method(http.MethodGet, openapi.Path, openapi.Handler(OpenAPI))
		r.With(web.RequireAuth).Post("/{eventId}", h.join)
		r.With(web.RequireAuth).Get("/{eventId}", h.get)
	})
}

func (h *handlers) join(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "eventId")
	if !eventID.MatchString(id) {
		web.Error(w, r, toHTTP(line.ErrUnknownEvent))
		return
	}
	p, err := h.app.Join(r.Context(), web.MustUser(r).ID, id)
	h.respond(w, r, p, err)
}

func (h *handlers) get(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "eventId")
	if !eventID.MatchString(id) {
		web.Error(w, r, toHTTP(line.ErrNotJoined))
		return
	}
	p, err := h.app.Place(r.Context(), web.MustUser(r).ID, id)
	h.respond(w, r, p, err)
}

func (h *handlers) respond(w http.ResponseWriter, r *http.Request, p app.Place, err error) {
	if err != nil {
		web.Error(w, r, toHTTP(err))
		return
	}
	if p.Pass != "" {
		// For browsers: the orders service reads the pass from this cookie too.
		http.SetCookie(w, &http.Cookie{
			Name: authn.PassCookie, Value: p.Pass, Path: "/", Expires: p.PassExpires,
			MaxAge: max(1, int(time.Until(p.PassExpires).Seconds())), HttpOnly: true, Secure: h.secureCookie,
			SameSite: http.SameSiteLaxMode,
		})
	}
	w.Header().Set("Cache-Control", "no-store")
	web.Respond(w, http.StatusOK, toResponse(p))
}

// placeResponse is a place as the API shows it.
type placeResponse struct {
	EventID              string     `json:"eventId"`
	Status               string     `json:"status"`
	Position             *int64     `json:"position"`
	Ahead                *int64     `json:"ahead"`
	EstimatedWaitSeconds int64      `json:"estimatedWaitSeconds"`
	Pass                 *string    `json:"pass"`
	PassExpiresAt        *time.Time `json:"passExpiresAt"`
}

func toResponse(p app.Place) placeResponse {
	out := placeResponse{
		EventID: p.EventID, Status: string(p.Status), Position: p.Position, Ahead: p.Ahead,
		EstimatedWaitSeconds: int64(math.Ceil(p.Wait.Seconds())),
	}
	if p.Pass != "" {
		pass, exp := p.Pass, p.PassExpires.UTC()
		out.Pass, out.PassExpiresAt = &pass, &exp
	}
	return out
}

// toHTTP maps the domain's errors to the API's, in one place; anything else is a fault.
func toHTTP(err error) error {
	switch {
	case errors.Is(err, line.ErrUnknownEvent):
		return errs.New(errs.NotFound, "Event not found")
	case errors.Is(err, line.ErrNotJoined):
		return errs.New(errs.NotFound, "Not in the queue")
	default:
		return errs.Wrap(errs.Internal, err, "")
	}
}

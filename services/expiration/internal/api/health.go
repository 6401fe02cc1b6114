// Package api serves the expiration service's only HTTP routes: its health probes.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing/common/web"
)

// ReadyBody is the answer of GET /readyz: web.Health's shape, plus details.
type ReadyBody struct {
	Status  string            `json:"status"`
	Checks  map[string]string `json:"checks"`
	Details map[string]any    `json:"details,omitempty"`
}

// Health mounts GET /healthz and GET /readyz as web.Health does (every check within two
// seconds, else 503 naming the failures), and adds what details returns to /readyz's body.
func Health(r chi.Router, log *slog.Logger, checks map[string]web.Check, details func() map[string]any) {
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		web.Respond(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status := http.StatusOK
		out := map[string]string{}
		for name, check := range checks {
			if err := check(ctx); err != nil {
				status = http.StatusServiceUnavailable
				out[name] = "unavailable"
				log.WarnContext(ctx, "readiness check failed", "check", name, "err", err)
			} else {
				out[name] = "ok"
			}
		}
		body := ReadyBody{Status: http.StatusText(status), Checks: out}
		if details != nil {
			body.Details = details()
		}
		web.Respond(w, status, body)
	})
}

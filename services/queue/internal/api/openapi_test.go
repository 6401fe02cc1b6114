package api

import (
	"crypto/ed25519"
	"log/slog"
	"testing"

	"github.com/go-chi/chi/v5"

	"ticketing/common/authn"
	"ticketing/common/openapi/openapitest"
	"ticketing/common/web"
)

var statuses = openapitest.Statuses{
	"POST /api/queue/{eventId}":   {200, 401, 404, 500},
	"GET /api/queue/{eventId}":    {200, 401, 404, 500},
	"GET /api/queue/openapi.json": {200, 304, 500},
}

func router() chi.Router {
	r := web.NewRouter(slog.New(slog.DiscardHandler), authn.NewVerifier(make(ed25519.PublicKey, ed25519.PublicKeySize)))
	web.Health(r, nil)
	Mount(r, nil, false)
	return r
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	openapitest.Check(t, OpenAPI, router(), statuses)
}

func TestOpenAPIServed(t *testing.T) {
	openapitest.Served(t, router(), "/api/queue/openapi.json", OpenAPI)
}

func TestAPIReference(t *testing.T) {
	openapitest.CheckReference(t, OpenAPI)
}

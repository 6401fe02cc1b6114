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

// statuses is the contract of API.md and README.md: every status each route answers.
var statuses = openapitest.Statuses{
	"GET /api/tickets":              {200, 304, 400, 500},
	"POST /api/tickets":             {201, 400, 401, 413, 415, 500},
	"GET /api/tickets/{id}":         {200, 304, 404, 500},
	"PUT /api/tickets/{id}":         {200, 400, 401, 403, 404, 409, 413, 415, 500},
	"GET /api/tickets/openapi.json": {200, 304, 500},
}

// router is the router as tickets.Run builds it: the platform's middleware stack, the health
// routes, then Mount (which needs no application to register its routes).
func router() chi.Router {
	r := web.NewRouter(slog.New(slog.DiscardHandler), authn.NewVerifier(make(ed25519.PublicKey, ed25519.PublicKeySize)))
	web.Health(r, nil)
	Mount(r, nil)
	return r
}

// Every route the router registers is in openapi.yaml with exactly its status codes, and
// every example there validates against its schema.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	openapitest.Check(t, OpenAPI, router(), statuses)
}

func TestOpenAPIServed(t *testing.T) {
	openapitest.Served(t, router(), "/api/tickets/openapi.json", OpenAPI)
}

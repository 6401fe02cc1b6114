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
	"POST /api/orders":             {201, 400, 401, 403, 404, 409, 413, 415, 422, 500},
	"GET /api/orders":              {200, 400, 401, 500},
	"GET /api/orders/{id}":         {200, 401, 403, 404, 500},
	"DELETE /api/orders/{id}":      {204, 401, 403, 404, 409, 500},
	"GET /api/orders/openapi.json": {200, 304, 500},
}

// router is the router as orders.Run builds it: the platform's middleware stack, the health
// routes, then Routes (which needs no service to register its routes).
func router() chi.Router {
	r := web.NewRouter(slog.New(slog.DiscardHandler), authn.NewVerifier(make(ed25519.PublicKey, ed25519.PublicKeySize)))
	web.Health(r, nil)
	Routes(r, nil, nil)
	return r
}

// Every route the router registers is in openapi.yaml with exactly its status codes, and
// every example there validates against its schema.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	openapitest.Check(t, OpenAPI, router(), statuses)
}

// The document is public, although every other route needs a session.
func TestOpenAPIServed(t *testing.T) {
	openapitest.Served(t, router(), "/api/orders/openapi.json", OpenAPI)
}

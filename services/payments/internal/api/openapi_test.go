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
	"POST /api/payments":             {201, 202, 400, 401, 402, 403, 404, 409, 413, 415, 422, 500, 503},
	"POST /api/payments/webhook":     {200, 400, 413, 500},
	"GET /api/payments/config":       {200, 500},
	"GET /api/payments/openapi.json": {200, 304, 500},
}

// router is the router as payments.Run builds it: the platform's middleware stack, the health
// routes, then Routes.
func router() chi.Router {
	r := web.NewRouter(slog.New(slog.DiscardHandler), authn.NewVerifier(make(ed25519.PublicKey, ed25519.PublicKeySize)))
	web.Health(r, nil)
	Routes(r, &Handler{})
	return r
}

// Every route the router registers is in openapi.yaml with exactly its status codes, and
// every example there validates against its schema.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	openapitest.Check(t, OpenAPI, router(), statuses)
}

func TestOpenAPIServed(t *testing.T) {
	openapitest.Served(t, router(), "/api/payments/openapi.json", OpenAPI)
}

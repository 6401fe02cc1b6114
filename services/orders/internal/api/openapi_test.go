package api

import (
	"testing"

	"github.com/go-chi/chi/v5"

	"ticketing/common/openapi/openapitest"
)

// statuses is the contract of API.md and README.md: every status each route answers.
var statuses = openapitest.Statuses{
	"POST /api/orders":             {201, 400, 401, 403, 404, 409, 413, 415, 422, 429, 500},
	"GET /api/orders":              {200, 400, 401, 500},
	"GET /api/orders/{id}":         {200, 401, 403, 404, 500},
	"DELETE /api/orders/{id}":      {204, 401, 403, 404, 409, 429, 500},
	"GET /api/orders/openapi.json": {200, 304, 500},
}

// Every route the router registers (as orders.Run builds it) is in openapi.yaml with exactly its
// status codes, every example there validates against its schema, and the document is public.
func TestOpenAPI(t *testing.T) {
	openapitest.Service(t, OpenAPI, "/api/orders/openapi.json", statuses, func(r chi.Router) { Routes(r, nil, nil) })
}

package api

import (
	"testing"

	"github.com/go-chi/chi/v5"

	"ticketing/common/openapi/openapitest"
)

// statuses is the contract of API.md and README.md: every status each route answers.
var statuses = openapitest.Statuses{
	"GET /api/tickets":              {200, 304, 400, 500},
	"POST /api/tickets":             {201, 400, 401, 409, 413, 415, 422, 429, 500},
	"GET /api/tickets/{id}":         {200, 304, 404, 500},
	"PUT /api/tickets/{id}":         {200, 400, 401, 403, 404, 409, 413, 415, 429, 500},
	"GET /api/tickets/openapi.json": {200, 304, 500},
	"GET /api/events":               {200, 400, 500},
	"POST /api/events":              {201, 400, 401, 409, 413, 415, 422, 429, 500},
	"GET /api/events/{id}":          {200, 404, 500},
}

// Every route the router registers (as tickets.Run builds it) is in openapi.yaml with exactly its
// status codes, every example there validates against its schema, and the document is public.
func TestOpenAPI(t *testing.T) {
	openapitest.Service(t, OpenAPI, "/api/tickets/openapi.json", statuses, func(r chi.Router) { Mount(r, nil, nil) })
}

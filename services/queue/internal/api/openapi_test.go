package api

import (
	"testing"

	"github.com/go-chi/chi/v5"

	"ticketing/common/openapi/openapitest"
)

// statuses is the contract of docs/API.md: every status each route answers.
var statuses = openapitest.Statuses{
	"POST /api/queue/{eventId}":   {200, 401, 404, 429, 500},
	"GET /api/queue/{eventId}":    {200, 401, 404, 500},
	"GET /api/queue/openapi.json": {200, 304, 500},
}

// Every route the router registers (as queue.Run builds it) is in openapi.yaml with exactly its
// status codes, every example there validates against its schema, and the document is public.
func TestOpenAPI(t *testing.T) {
	openapitest.Service(t, OpenAPI, "/api/queue/openapi.json", statuses, func(r chi.Router) { Mount(r, nil, false) })
}

func TestAPIReference(t *testing.T) {
	openapitest.CheckReference(t, OpenAPI)
}

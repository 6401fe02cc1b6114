package api

import (
	"testing"

	"github.com/go-chi/chi/v5"

	"ticketing/common/openapi/openapitest"
)

// statuses is the contract of API.md and README.md: every status each route answers.
var statuses = openapitest.Statuses{
	"POST /api/payments":                  {201, 202, 400, 401, 402, 403, 404, 409, 413, 415, 422, 429, 500, 503},
	"POST /api/payments/webhook":          {200, 400, 413, 500},
	"POST /api/payments/razorpay/verify":  {201, 400, 401, 403, 404, 409, 413, 415, 429, 500, 503},
	"POST /api/payments/razorpay/webhook": {200, 400, 413, 500, 503},
	"GET /api/payments/config":            {200, 500},
	"GET /api/payments/openapi.json":      {200, 304, 500},
}

// Every route the router registers (as payments.Run builds it) is in openapi.yaml with exactly its
// status codes, every example there validates against its schema, and the document is public.
func TestOpenAPI(t *testing.T) {
	openapitest.Service(t, OpenAPI, "/api/payments/openapi.json", statuses, func(r chi.Router) { Routes(r, &Handler{}) })
}

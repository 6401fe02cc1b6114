package api

import (
	_ "embed"

	"ticketing/common/openapi"
)

// openapiYAML is the OpenAPI 3.1 document of the routes Mount adds; openapi_test.go keeps it
// true to them.
//
//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPI is the document as JSON, served at GET /api/queue/openapi.json.
var OpenAPI = openapi.MustJSON(openapiYAML)

package api

import (
	"testing"

	"ticketing/common/openapi/openapitest"
)

// docs/API.md documents every route of the OpenAPI document with exactly its status codes,
// and no route under this service's prefix that the document lacks.
func TestAPIReference(t *testing.T) {
	openapitest.CheckReference(t, OpenAPI)
}

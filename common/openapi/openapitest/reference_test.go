package openapitest

import (
	"slices"
	"testing"
)

const referenceDoc = `{"openapi": "3.1.0", "paths": {
  "/api/things": {"get": {"responses": {"200": {}, "500": {}}}, "post": {"responses": {"201": {}, "400": {}}}},
  "/api/things/{id}": {"delete": {"responses": {"204": {}}}}
}}`

func TestReferenceProblems(t *testing.T) {
	for _, tc := range []struct {
		name, ref string
		want      []string
	}{
		{"agree", "### GET /api/things\n| 200 |\n| 500 |\n### POST /api/things\n| 201 |\n| 400 |\n### DELETE /api/things/{id}\n| 204 |\n" +
			"### GET /api/other\n| 200 |\n", nil},
		{"drift", "### GET /api/things\n| 200 |\n### POST /api/things\n| 201 |\n| 400 |\n### PUT /api/things/{id}\n| 200 |\n### GET /api/thingsx\n| 200 |\n", []string{
			"docs/API.md: GET /api/things lists statuses [200], the OpenAPI document [200 500]",
			"docs/API.md: PUT /api/things/{id} is not in the service's OpenAPI document",
			`docs/API.md: the OpenAPI operation DELETE /api/things/{id} is missing (a heading "### DELETE /api/things/{id}" with its status table)`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ReferenceProblems([]byte(referenceDoc), tc.ref); !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n%q\nwant:\n%q", got, tc.want)
			}
		})
	}
}

// A document may serve several prefixes (tickets serves /api/tickets and /api/events): each
// of its operations must be in the reference, and each route the reference lists under any of
// them must be in the document.
func TestReferenceProblemsSeveralPrefixes(t *testing.T) {
	doc := `{"paths": {"/api/a": {"get": {"responses": {"200": {}}}}, "/api/b": {"get": {"responses": {"200": {}}}}}}`
	if got := ReferenceProblems([]byte(doc), "### GET /api/a\n| 200 |\n### GET /api/b\n| 200 |\n"); len(got) != 0 {
		t.Errorf("problems %q, want none", got)
	}
	got := ReferenceProblems([]byte(doc), "### GET /api/a\n| 200 |\n### POST /api/b\n| 201 |\n")
	want := []string{
		"docs/API.md: POST /api/b is not in the service's OpenAPI document",
		`docs/API.md: the OpenAPI operation GET /api/b is missing (a heading "### GET /api/b" with its status table)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
}

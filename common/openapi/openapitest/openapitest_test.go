package openapitest_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"ticketing/common/openapi"
	"ticketing/common/openapi/openapitest"
	"ticketing/common/web"
)

// A small document that agrees with router() and statuses.
const goodDoc = `
openapi: 3.1.0
info: {title: things, version: "1"}
security: [{bearer: []}]
paths:
  /api/things:
    get:
      security: []
      parameters:
        - {name: limit, in: query, schema: {type: integer, minimum: 1}, example: 10}
      responses:
        "200":
          description: the things
          content:
            application/json:
              schema: {type: array, items: {$ref: "#/components/schemas/Thing"}}
              example: [{id: t1, at: "2024-05-01T10:00:00Z"}]
        "500": {$ref: "#/components/responses/Fault"}
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Thing"}
            examples:
              one: {$ref: "#/components/examples/Thing"}
      responses:
        "201":
          description: made
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Thing"}
              example: {id: t1, at: "2024-05-01T10:00:00Z"}
        "400": {$ref: "#/components/responses/Invalid"}
        "401": {$ref: "#/components/responses/Invalid"}
        "500": {$ref: "#/components/responses/Fault"}
  /api/things/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
    delete:
      responses:
        "204": {description: gone}
        "401": {$ref: "#/components/responses/Invalid"}
        "500": {$ref: "#/components/responses/Fault"}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
  examples:
    Thing: {value: {id: t2, at: "2024-05-01T10:00:00Z"}}
  schemas:
    Thing:
      type: object
      required: [id, at]
      properties:
        id: {type: string, examples: [t3]}
        at: {type: string, format: date-time}
    Errors:
      type: object
      required: [errors]
      properties:
        errors:
          type: array
          minItems: 1
          items:
            type: object
            required: [message]
            properties:
              message: {type: string}
              field: {type: string}
  responses:
    Invalid:
      description: invalid
      content:
        application/json:
          schema: {$ref: "#/components/schemas/Errors"}
          example: {errors: [{message: at must be a time, field: at}]}
    Fault:
      description: a fault
      content:
        application/json:
          schema: {$ref: "#/components/schemas/Errors"}
          example: {errors: [{message: Internal Server Error}]}
`

var statuses = openapitest.Statuses{
	"GET /api/things":         {200, 500},
	"POST /api/things":        {201, 400, 401, 500},
	"DELETE /api/things/{id}": {204, 401, 500},
}

func ok(http.ResponseWriter, *http.Request) {}

func router(extra func(r chi.Router)) chi.Router {
	r := chi.NewRouter()
	web.Health(r, web.Probes{})
	r.Route("/api/things", func(r chi.Router) {
		r.Get("/", ok)
		r.With(web.RequireAuth).Post("/", ok)
		r.With(web.RequireAuth).Delete("/{id:[a-z0-9]+}", ok)
		if extra != nil {
			extra(r)
		}
	})
	return r
}

func problems(t *testing.T, doc string, r chi.Router, want openapitest.Statuses) []string {
	t.Helper()
	js, err := openapi.JSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return openapitest.Problems(js, r, want)
}

func TestAgreeingDocumentHasNoProblem(t *testing.T) {
	if p := problems(t, goodDoc, router(nil), statuses); len(p) > 0 {
		t.Fatalf("problems in a document that agrees with its router:\n%s", strings.Join(p, "\n"))
	}
}

func TestEachDisagreementIsFound(t *testing.T) {
	cases := []struct {
		name   string
		doc    func(string) string
		router func(chi.Router)
		want   func(openapitest.Statuses)
		expect string // a fragment of one problem
	}{
		{name: "undocumented route", router: func(r chi.Router) { r.Get("/debug", ok) },
			expect: "GET /api/things/debug is registered by the router but not in the document"},
		{name: "status missing from the document",
			doc: func(d string) string {
				return strings.Replace(d, `        "400": {$ref: "#/components/responses/Invalid"}`+"\n", "", 1)
			},
			expect: "POST /api/things documents status codes [201 401 500], the service answers [201 400 401 500]"},
		{name: "route missing from the table", want: func(s openapitest.Statuses) { delete(s, "GET /api/things") },
			expect: "GET /api/things has no entry in the service's table"},
		{name: "documented but not served",
			doc: func(d string) string {
				return strings.Replace(d, "    delete:", "    put:\n      security: []\n      responses: {\"500\": {$ref: \"#/components/responses/Fault\"}}\n    delete:", 1)
			},
			expect: "PUT /api/things/{id} is in the document but the router does not register it"},
		{name: "no 500",
			doc: func(d string) string {
				return strings.Replace(d, "        \"204\": {description: gone}\n        \"401\": {$ref: \"#/components/responses/Invalid\"}\n        \"500\": {$ref: \"#/components/responses/Fault\"}",
					"        \"204\": {description: gone}\n        \"401\": {$ref: \"#/components/responses/Invalid\"}", 1)
			},
			want:   func(s openapitest.Statuses) { s["DELETE /api/things/{id}"] = []int{204, 401} },
			expect: "DELETE /api/things/{id} does not document 500"},
		{name: "auth without 401",
			router: func(r chi.Router) { r.With(web.RequireAuth).Get("/mine", ok) },
			doc: func(d string) string {
				return strings.Replace(d, "  /api/things/{id}:", "  /api/things/mine:\n    get:\n      responses: {\"500\": {$ref: \"#/components/responses/Fault\"}}\n  /api/things/{id}:", 1)
			},
			want:   func(s openapitest.Statuses) { s["GET /api/things/mine"] = []int{500} },
			expect: "GET /api/things/mine requires a signed-in user but does not document 401"},
		{name: "anonymous route documented as secured",
			doc: func(d string) string {
				return strings.Replace(d, "      security: []\n      parameters:", "      parameters:", 1)
			},
			expect: "GET /api/things is open to anonymous calls but its security requires a session"},
		{name: "example that breaks its schema",
			doc: func(d string) string {
				return strings.Replace(d, `example: [{id: t1, at: "2024-05-01T10:00:00Z"}]`, `example: [{id: t1, at: "yesterday"}]`, 1)
			},
			expect: "/paths/~1api~1things/get/responses/200/content/application~1json/example: the example does not validate"},
		{name: "referenced example that breaks its schema",
			doc: func(d string) string {
				return strings.Replace(d, `{value: {id: t2, at: "2024-05-01T10:00:00Z"}}`, `{value: {id: 2}}`, 1)
			},
			expect: "/components/examples/Thing: the example does not validate"},
		{name: "schema example that breaks its schema",
			doc:    func(d string) string { return strings.Replace(d, "examples: [t3]", "examples: [3]", 1) },
			expect: "/components/schemas/Thing/properties/id: the schema's example 3 does not validate"},
		{name: "parameter example that breaks its schema",
			doc:    func(d string) string { return strings.Replace(d, "example: 10}", "example: 0}", 1) },
			expect: "/paths/~1api~1things/get/parameters/0/example: the example does not validate"},
		{name: "error response not in the error shape",
			doc: func(d string) string {
				return strings.Replace(d, "      description: invalid\n      content:\n        application/json:\n          schema: {$ref: \"#/components/schemas/Errors\"}",
					"      description: invalid\n      content:\n        application/json:\n          schema: {type: object}", 1)
			},
			expect: "POST /api/things response 400: the schema is not the error shape"},
		{name: "response without an example",
			doc: func(d string) string {
				return strings.Replace(d, "              example: {id: t1, at: \"2024-05-01T10:00:00Z\"}\n", "", 1)
			},
			expect: "POST /api/things response 201 (application/json): no example"},
		{name: "undeclared path parameter",
			doc: func(d string) string {
				return strings.Replace(d, "    parameters:\n      - {name: id, in: path, required: true, schema: {type: string}}\n", "", 1)
			},
			expect: `DELETE /api/things/{id}: path parameter "id" is not declared`},
		{name: "OpenAPI 3.0", doc: func(d string) string { return strings.Replace(d, "openapi: 3.1.0", "openapi: 3.0.3", 1) },
			expect: `openapi is "3.0.3", want 3.1.x`},
		{name: "not an OpenAPI document", doc: func(d string) string { return strings.Replace(d, "info: {title: things, version: \"1\"}", "", 1) },
			expect: "not a valid OpenAPI 3.1 document"},
		{name: "invalid schema", doc: func(d string) string { return strings.Replace(d, "minimum: 1}", "minimum: one}", 1) },
			expect: "not a valid JSON Schema 2020-12"},
		{name: "status range", doc: func(d string) string {
			return strings.Replace(d, `"500": {$ref: "#/components/responses/Fault"}`, `"5XX": {$ref: "#/components/responses/Fault"}`, 1)
		},
			expect: `GET /api/things: response "5XX": name each status code`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := goodDoc
			if tc.doc != nil {
				doc = tc.doc(doc)
				if doc == goodDoc {
					t.Fatal("the case did not change the document")
				}
			}
			want := openapitest.Statuses{}
			for k, v := range statuses {
				want[k] = slices.Clone(v)
			}
			if tc.want != nil {
				tc.want(want)
			}
			got := problems(t, doc, router(tc.router), want)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.expect) }) {
				t.Errorf("want a problem containing %q, got:\n%s", tc.expect, strings.Join(got, "\n"))
			}
		})
	}
}

func TestHandler(t *testing.T) {
	js, err := openapi.JSON([]byte(goodDoc))
	if err != nil {
		t.Fatal(err)
	}
	h := openapi.Handler(js)
	rec := serve(h, http.MethodGet, "")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != string(js) {
		t.Fatalf("GET: %d %v %q", rec.Code, rec.Header(), rec.Body.String())
	}
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if again := serve(h, http.MethodGet, etag); again.Code != http.StatusNotModified || again.Body.String() != "" {
		t.Fatalf("If-None-Match %s: %d %q", etag, again.Code, again.Body.String())
	}
	if other := serve(h, http.MethodGet, `"other"`); other.Code != http.StatusOK {
		t.Fatalf("If-None-Match of another tag: %d", other.Code)
	}
}

func TestJSONRefusesWhatIsNotADocument(t *testing.T) {
	for _, doc := range []string{"- a list", "key: [unclosed", "just text"} {
		if _, err := openapi.JSON([]byte(doc)); err == nil {
			t.Errorf("%q: no error", doc)
		}
	}
}

func serve(h http.Handler, method, ifNoneMatch string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/api/things/openapi.json", nil)
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Package openapitest keeps a service's OpenAPI 3.1 document true to the router the service
// builds. Problems (and Check, for tests) find every disagreement:
//
//   - the document is not a valid OpenAPI 3.1 document (the OpenAPI Initiative's schema
//     2022-10-07, oas-3.1-schema.json here) or a schema in it is not valid JSON Schema 2020-12;
//   - a route the router registers (method and pattern, walked with chi.Walk) is not in the
//     document, or the document has an operation the router does not serve;
//   - an operation's documented status codes differ from the ones the service's contract
//     table lists for it, a route is missing from that table, an operation lacks 500, or a
//     route behind web.RequireAuth lacks 401 or is documented without security (and the
//     reverse);
//   - a path parameter of the template is not declared;
//   - an error response (4xx, 5xx) does not have the API's error shape
//     {"errors":[{"message","field"}]}, or a JSON body (request or response) has no example;
//   - an example (of a media type, parameter, header or schema) does not validate against its
//     schema, with formats such as date-time and email asserted.
//
// /livez, /healthz, /readyz and /metrics are the operational routes every service mounts outside its
// API prefix; the ingress does not route them, and they are not part of the document.
package openapitest

import (
	"bytes"
	"crypto/ed25519"
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"ticketing/common/authn"
	"ticketing/common/web"
)

// oas31Schema is the OpenAPI Initiative's JSON Schema of OpenAPI 3.1 documents
// (https://spec.openapis.org/oas/3.1/schema/2022-10-07, Apache-2.0), which checks the
// document's structure but not the schemas in it; those are compiled as JSON Schema 2020-12.
//
//go:embed oas-3.1-schema.json
var oas31Schema []byte

const (
	oas31SchemaURL = "https://spec.openapis.org/oas/3.1/schema/2022-10-07"
	docURL         = "mem:///openapi.json"
)

// Operational are the paths every service mounts that the ingress does not route.
var Operational = []string{"/livez", "/healthz", "/readyz", "/metrics"}

// Statuses lists, for each route a service registers ("GET /api/tickets/{id}", the method in
// upper case and the path as the document writes it), every HTTP status the operation
// answers: the service's contract, which the document must match exactly.
type Statuses map[string][]int

// Check reports every problem Problems finds as a test error.
func Check(t testing.TB, doc []byte, router chi.Routes, want Statuses) {
	t.Helper()
	for _, p := range Problems(doc, router, want) {
		t.Error(p)
	}
}

// Service checks a service's document against the router its Run builds (the platform's
// middleware stack and health routes, then mount, which registers the API routes and needs no
// application to do so), and that the document is public at path.
func Service(t *testing.T, doc []byte, path string, want Statuses, mount func(chi.Router)) {
	t.Helper()
	r := web.NewRouter(slog.New(slog.DiscardHandler), authn.NewVerifier(make(ed25519.PublicKey, ed25519.PublicKeySize)))
	web.Health(r, web.Probes{})
	mount(r)
	t.Run("every route documented", func(t *testing.T) { Check(t, doc, r, want) })
	// The document is public, although other routes need a session.
	t.Run("served", func(t *testing.T) { Served(t, r, path, doc) })
}

// Served checks that router serves doc at path as the API's clients reach it: 200 with the
// document as JSON and an ETag, then 304 to a request that sends that ETag back.
func Served(t testing.TB, router http.Handler, path string, doc []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %s, want 200 application/json: %.200s", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	if !bytes.Equal(rec.Body.Bytes(), doc) {
		t.Fatalf("GET %s serves another document: %.200s", path, rec.Body)
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("GET %s: not JSON", path)
	}
	etag := rec.Header().Get("ETag")
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	router.ServeHTTP(rec, req)
	if etag == "" || rec.Code != http.StatusNotModified {
		t.Fatalf("GET %s with If-None-Match %q: %d, want 304", path, etag, rec.Code)
	}
}

// Problems lists every disagreement between doc (the JSON document the service serves), the
// routes router registers and want, sorted; it is empty when they agree.
func Problems(doc []byte, router chi.Routes, want Statuses) []string {
	c, err := newChecker(doc)
	if err != nil {
		return []string{err.Error()}
	}
	c.validateDocument()
	c.checkRoutes(router, want)
	c.checkOperations()
	c.checkExamples()
	slices.Sort(c.problems)
	return slices.Compact(c.problems)
}

type checker struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema // compiled, by JSON pointer
	problems []string
}

func newChecker(doc []byte) (*checker, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("the document is not JSON: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the document is not a JSON object")
	}
	meta, err := jsonschema.UnmarshalJSON(bytes.NewReader(oas31Schema))
	if err != nil {
		return nil, fmt.Errorf("oas-3.1-schema.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(oas31SchemaURL, meta); err != nil {
		return nil, fmt.Errorf("oas-3.1-schema.json: %v", err)
	}
	if err := c.AddResource(docURL, v); err != nil {
		return nil, fmt.Errorf("the document: %v", err)
	}
	return &checker{doc: m, compiler: c, schemas: map[string]*jsonschema.Schema{}}, nil
}

func (c *checker) addf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// validateDocument checks the version and the structure against the OpenAPI 3.1 schema.
func (c *checker) validateDocument() {
	if v, _ := c.doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		c.addf("openapi is %q, want 3.1.x", v)
	}
	meta, err := c.compiler.Compile(oas31SchemaURL)
	if err != nil {
		c.addf("compile the OpenAPI 3.1 schema: %v", err)
		return
	}
	if err := meta.Validate(any(c.doc)); err != nil {
		c.addf("not a valid OpenAPI 3.1 document: %v", err)
	}
}

// route is one registered operation.
type route struct {
	key  string // "GET /api/tickets/{id}"
	auth bool   // behind web.RequireAuth
}

var (
	paramRegexp  = regexp.MustCompile(`\{([^{}:]+)(:[^{}]*)?\}`)
	documentedOp = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
)

// walk lists the router's operations outside the operational paths.
func walk(router chi.Routes) ([]route, error) {
	var out []route
	err := chi.Walk(router, func(method, pattern string, _ http.Handler, mws ...func(http.Handler) http.Handler) error {
		path := normalize(pattern)
		if slices.Contains(Operational, path) {
			return nil
		}
		r := route{key: method + " " + path}
		for _, mw := range mws {
			if funcName(mw) == requireAuth {
				r.auth = true
			}
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// requireAuth is the middleware that answers 401 to anonymous requests. It is named rather
// than imported so that this package depends on nothing of the services' stack.
const requireAuth = "ticketing/common/web.RequireAuth"

func funcName(f any) string {
	if fn := runtime.FuncForPC(reflect.ValueOf(f).Pointer()); fn != nil {
		return fn.Name()
	}
	return ""
}

// normalize writes a chi pattern as an OpenAPI path: no trailing slash (chi serves a
// subrouter's "/" at the prefix itself) and no regular expressions in parameters.
func normalize(pattern string) string {
	p := paramRegexp.ReplaceAllString(pattern, "{$1}")
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	return p
}

func (c *checker) paths() map[string]any {
	p, _ := c.doc["paths"].(map[string]any)
	return p
}

// operations lists the document's operations by key.
func (c *checker) operations() map[string]map[string]any {
	out := map[string]map[string]any{}
	for path, item := range c.paths() {
		item, _ := item.(map[string]any)
		for _, m := range documentedOp {
			if op, ok := item[m].(map[string]any); ok {
				out[strings.ToUpper(m)+" "+path] = op
			}
		}
	}
	return out
}

func (c *checker) checkRoutes(router chi.Routes, want Statuses) {
	routes, err := walk(router)
	if err != nil {
		c.addf("walk the router: %v", err)
		return
	}
	if len(routes) == 0 {
		c.addf("the router registers no route outside %v", Operational)
	}
	ops := c.operations()
	mounted := map[string]bool{}
	for _, r := range routes {
		mounted[r.key] = true
		if strings.Contains(r.key, "*") {
			c.addf("%s: a catch-all route cannot be documented; mount explicit routes", r.key)
			continue
		}
		op, ok := ops[r.key]
		if !ok {
			c.addf("%s is registered by the router but not in the document", r.key)
			continue
		}
		documented := c.statuses(r.key, op)
		expected, ok := want[r.key]
		if !ok {
			c.addf("%s has no entry in the service's table of status codes (documented: %v)", r.key, documented)
		} else {
			expected = slices.Sorted(slices.Values(expected))
			expected = slices.Compact(expected)
			if !slices.Equal(documented, expected) {
				c.addf("%s documents status codes %v, the service answers %v", r.key, documented, expected)
			}
		}
		if !slices.Contains(documented, http.StatusInternalServerError) {
			c.addf("%s does not document 500 (a fault, in the error shape)", r.key)
		}
		secured := c.secured(op)
		switch {
		case r.auth && !slices.Contains(documented, http.StatusUnauthorized):
			c.addf("%s requires a signed-in user but does not document 401", r.key)
		case r.auth && !secured:
			c.addf("%s requires a signed-in user but its security allows anonymous calls", r.key)
		case !r.auth && secured:
			c.addf("%s is open to anonymous calls but its security requires a session", r.key)
		}
	}
	for key := range ops {
		if !mounted[key] {
			c.addf("%s is in the document but the router does not register it", key)
		}
	}
	for key := range want {
		if !mounted[key] {
			c.addf("%s is in the table of status codes but the router does not register it", key)
		}
	}
}

// statuses are the documented status codes of op, sorted; a range such as 4XX or default is
// a problem, since the contract names each status.
func (c *checker) statuses(key string, op map[string]any) []int {
	responses, _ := op["responses"].(map[string]any)
	var out []int
	for code := range responses {
		n, err := strconv.Atoi(code)
		if err != nil || n < 100 || n > 599 {
			c.addf("%s: response %q: name each status code", key, code)
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// secured reports whether op's effective security requires a credential: a non-empty list
// of requirements none of which is empty ({} makes the credential optional).
func (c *checker) secured(op map[string]any) bool {
	sec, ok := op["security"].([]any)
	if !ok {
		sec, _ = c.doc["security"].([]any)
	}
	if len(sec) == 0 {
		return false
	}
	for _, req := range sec {
		if m, _ := req.(map[string]any); len(m) == 0 {
			return false
		}
	}
	return true
}

// resolve follows a local $ref (of a response, request body, parameter, header or example)
// to its target, returning the target and its pointer.
func (c *checker) resolve(v any, ptr string) (map[string]any, string) {
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, ptr
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, ptr
		}
		if !strings.HasPrefix(ref, "#/") {
			c.addf("%s: only local references are supported, not %q", ptr, ref)
			return nil, ptr
		}
		ptr = strings.TrimPrefix(ref, "#")
		v = c.lookup(ptr)
		if v == nil {
			c.addf("%s: $ref %q names nothing", ptr, ref)
			return nil, ptr
		}
	}
	c.addf("%s: $ref cycle", ptr)
	return nil, ptr
}

func (c *checker) lookup(ptr string) any {
	var v any = c.doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch x := v.(type) {
		case map[string]any:
			v = x[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func escape(tok string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(tok)
}

// schema compiles the schema at pointer ptr of the document.
func (c *checker) schema(ptr string) (*jsonschema.Schema, bool) {
	if s, ok := c.schemas[ptr]; ok {
		return s, s != nil
	}
	var frag strings.Builder
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		frag.WriteString("/" + url.PathEscape(tok))
	}
	s, err := c.compiler.Compile(docURL + "#" + frag.String())
	if err != nil {
		c.addf("%s: not a valid JSON Schema 2020-12: %v", ptr, err)
	}
	c.schemas[ptr] = s
	return s, s != nil
}

var (
	errorSample    = map[string]any{"errors": []any{map[string]any{"message": "Price must be greater than 0", "field": "price"}}}
	notErrorSample = map[string]any{"message": "not the error shape"}
)

// checkOperations checks path parameters, error responses and the presence of examples.
func (c *checker) checkOperations() {
	for path, item := range c.paths() {
		item, _ := item.(map[string]any)
		itemPtr := "/paths/" + escape(path)
		for _, m := range documentedOp {
			op, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			key := strings.ToUpper(m) + " " + path
			opPtr := itemPtr + "/" + m
			c.checkPathParams(key, path, item, itemPtr, op, opPtr)
			if rb, rbPtr := c.resolve(op["requestBody"], opPtr+"/requestBody"); rb != nil {
				c.needExamples(key+" request body", rb, rbPtr)
			}
			responses, _ := op["responses"].(map[string]any)
			for code, resp := range responses {
				resp, respPtr := c.resolve(resp, opPtr+"/responses/"+code)
				if resp == nil {
					continue
				}
				what := key + " response " + code
				c.needExamples(what, resp, respPtr)
				if n, _ := strconv.Atoi(code); n >= 400 {
					c.checkErrorShape(what, resp, respPtr)
				}
			}
		}
	}
}

func (c *checker) checkPathParams(key, path string, item map[string]any, itemPtr string, op map[string]any, opPtr string) {
	declared := map[string]bool{}
	for _, list := range []struct {
		v   any
		ptr string
	}{{item["parameters"], itemPtr + "/parameters"}, {op["parameters"], opPtr + "/parameters"}} {
		params, _ := list.v.([]any)
		for i, p := range params {
			p, _ := c.resolve(p, list.ptr+"/"+strconv.Itoa(i))
			if p != nil && p["in"] == "path" {
				name, _ := p["name"].(string)
				declared[name] = true
			}
		}
	}
	for _, m := range paramRegexp.FindAllStringSubmatch(path, -1) {
		if !declared[m[1]] {
			c.addf("%s: path parameter %q is not declared", key, m[1])
		}
	}
}

// needExamples asks every media type of a request body or response for an example.
func (c *checker) needExamples(what string, obj map[string]any, ptr string) {
	content, _ := obj["content"].(map[string]any)
	for mt, media := range content {
		media, _ := media.(map[string]any)
		if media["example"] == nil && len(asMap(media["examples"])) == 0 {
			c.addf("%s (%s): no example (%s)", what, mt, ptr)
		}
	}
}

func (c *checker) checkErrorShape(what string, resp map[string]any, ptr string) {
	content, _ := resp["content"].(map[string]any)
	if _, ok := content["application/json"]; !ok || len(content) != 1 {
		c.addf("%s: an error answers application/json in the error shape, and nothing else (%s)", what, ptr)
		return
	}
	s, ok := c.schema(ptr + "/content/application~1json/schema")
	if !ok {
		return
	}
	if err := s.Validate(errorSample); err != nil {
		c.addf("%s: the schema refuses the error shape: %v", what, err)
	}
	if s.Validate(notErrorSample) == nil {
		c.addf("%s: the schema is not the error shape: it accepts %v", what, notErrorSample)
	}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// checkExamples validates every example of the document against its schema.
func (c *checker) checkExamples() {
	var walkAll func(v any, ptr string)
	// walkAll visits every object of the document once and dispatches on what it holds: a
	// media type, a parameter or header (schema plus example/examples), or a schema.
	walkAll = func(v any, ptr string) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["schema"].(map[string]any); ok {
				c.checkCarrier(x, ptr)
			}
			for k, child := range x {
				if k == "example" || k == "examples" || k == "schema" {
					continue
				}
				walkAll(child, ptr+"/"+escape(k))
			}
			if s, ok := x["schema"]; ok {
				c.walkSchema(s, ptr+"/schema")
			}
		case []any:
			for i, child := range x {
				walkAll(child, ptr+"/"+strconv.Itoa(i))
			}
		}
	}
	walkAll(c.doc["paths"], "/paths")
	components := asMap(c.doc["components"])
	for name, comp := range components {
		switch name {
		case "schemas":
			for sname, s := range asMap(comp) {
				c.walkSchema(s, "/components/schemas/"+escape(sname))
			}
			continue
		case "examples":
			continue // validated where they are used
		}
		walkAll(comp, "/components/"+escape(name))
	}
}

// checkCarrier validates the example and examples of a media type, parameter or header
// against its schema.
func (c *checker) checkCarrier(obj map[string]any, ptr string) {
	var values []any
	var where []string
	if ex, ok := obj["example"]; ok {
		values, where = append(values, ex), append(where, ptr+"/example")
	}
	for name, ex := range asMap(obj["examples"]) {
		ex, exPtr := c.resolve(ex, ptr+"/examples/"+escape(name))
		if ex == nil {
			continue
		}
		value, ok := ex["value"]
		if !ok {
			c.addf("%s: an example needs a value", exPtr)
			continue
		}
		values, where = append(values, value), append(where, exPtr)
	}
	if len(values) == 0 {
		return
	}
	s, ok := c.schema(ptr + "/schema")
	if !ok {
		return
	}
	for i, v := range values {
		if err := s.Validate(v); err != nil {
			c.addf("%s: the example does not validate: %v", where[i], err)
		}
	}
}

// Keywords whose values are schemas, maps of schemas or lists of schemas.
var (
	schemaKeywords     = []string{"additionalProperties", "items", "contains", "not", "if", "then", "else", "propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema"}
	schemaMapKeywords  = []string{"properties", "patternProperties", "$defs", "dependentSchemas"}
	schemaListKeywords = []string{"allOf", "anyOf", "oneOf", "prefixItems"}
)

// walkSchema compiles the schema at ptr and each of its subschemas, and validates the
// schema-level examples (the JSON Schema examples keyword, or OpenAPI's deprecated example).
func (c *checker) walkSchema(v any, ptr string) {
	s, ok := v.(map[string]any)
	if !ok {
		return
	}
	var values []any
	if ex, ok := s["examples"].([]any); ok {
		values = append(values, ex...)
	}
	if ex, ok := s["example"]; ok {
		values = append(values, ex)
	}
	if compiled, ok := c.schema(ptr); ok {
		for _, ex := range values {
			if err := compiled.Validate(ex); err != nil {
				c.addf("%s: the schema's example %v does not validate: %v", ptr, ex, err)
			}
		}
	}
	for _, k := range schemaKeywords {
		c.walkSchema(s[k], ptr+"/"+escape(k))
	}
	for _, k := range schemaMapKeywords {
		for name, sub := range asMap(s[k]) {
			c.walkSchema(sub, ptr+"/"+escape(k)+"/"+escape(name))
		}
	}
	for _, k := range schemaListKeywords {
		list, _ := s[k].([]any)
		for i, sub := range list {
			c.walkSchema(sub, ptr+"/"+escape(k)+"/"+strconv.Itoa(i))
		}
	}
}

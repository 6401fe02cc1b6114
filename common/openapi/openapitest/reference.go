package openapitest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"ticketing/common/apidoc"
)

// CheckReference reports, as test errors, every disagreement between doc (a service's JSON
// OpenAPI document) and the platform's API reference, docs/API.md: each operation of the
// document must be a route of the reference with exactly the same status codes, and each
// route the reference documents under the service's prefix ("/api/tickets", the first two
// segments of the document's paths) must be an operation of the document.
func CheckReference(t testing.TB, doc []byte) {
	t.Helper()
	ref, err := apidoc.Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ReferenceProblems(doc, ref) {
		t.Error(p)
	}
}

// ReferenceProblems is CheckReference's list of disagreements between doc and ref, the text
// of the reference.
func ReferenceProblems(doc []byte, ref string) []string {
	var problems []string
	ops, prefixes, err := documentStatuses(doc)
	if err != nil {
		return []string{err.Error()}
	}
	routes, err := apidoc.Routes(ref)
	if err != nil {
		problems = append(problems, err.Error())
	}
	documented := map[string][]int{}
	for _, r := range routes {
		documented[r.Key()] = r.Statuses
		under := false
		for _, prefix := range prefixes {
			under = under || r.Path == prefix || strings.HasPrefix(r.Path, prefix+"/")
		}
		if _, ok := ops[r.Key()]; !ok && under {
			problems = append(problems, fmt.Sprintf("%s: %s is not in the service's OpenAPI document", apidoc.Path, r.Key()))
		}
	}
	for key, statuses := range ops {
		got, ok := documented[key]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: the OpenAPI operation %s is missing (a heading \"### %s\" with its status table)", apidoc.Path, key, key))
		case !slices.Equal(got, statuses):
			problems = append(problems, fmt.Sprintf("%s: %s lists statuses %v, the OpenAPI document %v", apidoc.Path, key, got, statuses))
		}
	}
	slices.Sort(problems)
	return problems
}

// documentStatuses lists doc's operations ("GET /api/tickets/{id}") with their sorted status
// codes, and the prefixes its paths are under ("/api/tickets"; a service may serve more than
// one, as tickets serves /api/events).
func documentStatuses(doc []byte) (map[string][]int, []string, error) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, nil, fmt.Errorf("the OpenAPI document: %v", err)
	}
	ops := map[string][]int{}
	var prefixes []string
	for path, item := range d.Paths {
		segs := strings.SplitN(path, "/", 4)
		if len(segs) < 3 || segs[0] != "" {
			return nil, nil, fmt.Errorf("the OpenAPI document: path %q is not under /<api>/<name>", path)
		}
		if p := "/" + segs[1] + "/" + segs[2]; !slices.Contains(prefixes, p) {
			prefixes = append(prefixes, p)
		}
		for _, m := range documentedOp {
			raw, ok := item[m]
			if !ok {
				continue
			}
			var op struct {
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, nil, fmt.Errorf("the OpenAPI document: %s %s: %v", m, path, err)
			}
			var codes []int
			for code := range op.Responses {
				n, err := strconv.Atoi(code)
				if err != nil {
					return nil, nil, fmt.Errorf("the OpenAPI document: %s %s: status %q is not a number (the reference lists exact codes)", m, path, code)
				}
				codes = append(codes, n)
			}
			slices.Sort(codes)
			ops[strings.ToUpper(m)+" "+path] = codes
		}
	}
	if len(prefixes) == 0 {
		return nil, nil, fmt.Errorf("the OpenAPI document has no paths")
	}
	return ops, prefixes, nil
}

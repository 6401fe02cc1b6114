package apidoc

import (
	"reflect"
	"strings"
	"testing"
)

const sample = "# Reference\n\n" +
	"### GET /api/things/{id}\n\nOne thing.\n\n| status | when |\n|---|---|\n| 200 | found |\n| 404 | not found |\n| 500 | a fault |\n\n" +
	"## Events\n\n### POST /api/things\n\n| status | when |\n|---|---|\n| 201 | made |\n\n" +
	"### Headers\n\n| 200 | not a route's status: no route heading above |\n\n" +
	"| subject | stream | published by | payload | handled by |\n|---|---|---|---|---|\n" +
	"| `thing.made` | `THINGS` | things | `{id, version, owner: {id, name}}` | nobody |\n"

func TestRoutes(t *testing.T) {
	got, err := Routes(sample)
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{
		{Method: "GET", Path: "/api/things/{id}", Statuses: []int{200, 404, 500}},
		{Method: "POST", Path: "/api/things", Statuses: []int{201}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Routes = %+v, want %+v", got, want)
	}
}

func TestRoutesRefusesDuplicatesAndMissingTables(t *testing.T) {
	doc := "### GET /a\n\n| 200 | ok |\n| 200 | again |\n\n### GET /a\n\n| 200 | ok |\n\n### PUT /b\n\nno table\n"
	_, err := Routes(doc)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"GET /a is documented twice", "GET /a lists status 200 twice", "PUT /b has no status table"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestEvents(t *testing.T) {
	got, err := Events(sample)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Event{"thing.made": {Subject: "thing.made", Stream: "THINGS", Publisher: "things",
		Payload: Fields{"id": nil, "version": nil, "owner": Fields{"id": nil, "name": nil}}, HandledBy: "nobody"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Events = %+v, want %+v", got, want)
	}
}

func TestParseFieldsRefusesMalformedPayloads(t *testing.T) {
	for _, s := range []string{"", "{}", "{a", "{a,}", "{a b}", "{a, a}", "{a: b}", "{a} x", "a, b", "{a: {b}"} {
		if f, err := ParseFields(s); err == nil {
			t.Errorf("ParseFields(%q) = %v, want an error", s, f)
		}
	}
}

// The repository's reference is found from a package directory and parses.
func TestRead(t *testing.T) {
	doc, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Routes(doc); err != nil {
		t.Error(err)
	}
	if _, err := Events(doc); err != nil {
		t.Error(err)
	}
}

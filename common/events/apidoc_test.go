package events_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"ticketing/common/apidoc"
	"ticketing/common/events"
)

// every is one value of each event type.
var every = []events.Event{
	events.TicketCreated{}, events.TicketUpdated{}, events.TicketRefused{}, events.OrderCreated{}, events.OrderCancelled{},
	events.OrderCompleted{}, events.ExpirationCompleted{}, events.PaymentCreated{}, events.PaymentRefunded{},
	events.OrderUpdated{}, events.PaymentStarted{}, events.PaymentFailed{},
	events.EventCreated{},
	events.SessionRevoked{},
}

// stringConsts parses the Go files of dir and returns the string constants whose names start
// with prefix, by name.
func stringConsts(t *testing.T, dir, prefix string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, prefix) || i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						out[name.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s* string constants in %s", prefix, dir)
	}
	return out
}

// declField is a JSON field of a payload type: optional (omitempty) or not, and the fields
// of a nested struct.
type declField struct {
	optional bool
	sub      map[string]declField
}

// jsonFields is the payload's JSON fields as typ declares them.
func jsonFields(typ reflect.Type) map[string]declField {
	out := map[string]declField{}
	for f := range typ.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		d := declField{optional: strings.Contains(opts, "omitempty")}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == typ.PkgPath() {
			d.sub = jsonFields(ft)
		}
		out[name] = d
	}
	return out
}

// checkPayload reports the documented fields that the type does not have, and the fields the
// type always sends that are not documented.
func checkPayload(t *testing.T, where string, documented apidoc.Fields, declared map[string]declField) {
	t.Helper()
	for name, sub := range documented {
		d, ok := declared[name]
		switch {
		case !ok:
			t.Errorf("%s: documents field %s, which the payload does not have", where, name)
		case (sub == nil) != (d.sub == nil):
			t.Errorf("%s: field %s is documented as %v, declared with fields %v", where, name, sub, d.sub)
		case sub != nil:
			checkPayload(t, where+"."+name, sub, d.sub)
		}
	}
	for name, d := range declared {
		if _, ok := documented[name]; !ok && !d.optional {
			t.Errorf("%s: the payload always sends field %s, which is not documented", where, name)
		}
	}
}

// docs/API.md's event table has one row per subject constant, with its stream and the
// payload's fields, and names every header the bus sets.
func TestAPIReferenceEvents(t *testing.T) {
	ref, err := apidoc.Read()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := apidoc.Events(ref)
	if err != nil {
		t.Fatal(err)
	}
	subjects := stringConsts(t, ".", "Subject")
	var want []string
	for _, s := range subjects {
		want = append(want, s)
		if _, ok := rows[s]; !ok {
			t.Errorf("%s: the event table has no row for %s", apidoc.Path, s)
		}
	}
	for s := range rows {
		if !slices.Contains(want, s) {
			t.Errorf("%s: the event table documents %s, which common/events does not define", apidoc.Path, s)
		}
	}
	var covered []string
	for _, e := range every {
		covered = append(covered, e.Subject())
		row, ok := rows[e.Subject()]
		if !ok {
			continue
		}
		if stream := (events.Topology{}).StreamOf(e.Subject()); row.Stream != stream {
			t.Errorf("%s: %s is on stream %s, documented %s", apidoc.Path, e.Subject(), stream, row.Stream)
		}
		checkPayload(t, apidoc.Path+": "+e.Subject(), row.Payload, jsonFields(reflect.TypeOf(e)))
	}
	slices.Sort(want)
	slices.Sort(covered)
	if !slices.Equal(want, covered) {
		t.Errorf("this test checks the payloads of %v; the subjects are %v: add the new event type to every", covered, want)
	}
	for name, h := range stringConsts(t, filepath.Join("..", "bus"), "Header") {
		if !strings.Contains(ref, "`"+h+"`") {
			t.Errorf("%s does not name the header %s (bus.%s)", apidoc.Path, h, name)
		}
	}
	for _, s := range []string{events.StreamDeadLetter, "deadletter.<consumer>"} {
		if !strings.Contains(ref, "`"+s+"`") {
			t.Errorf("%s does not name %s", apidoc.Path, s)
		}
	}
}

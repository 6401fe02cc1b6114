// Package apidoc reads the platform's API reference, docs/API.md, for the tests that keep it
// true to the code: each service's OpenAPI test compares the routes and status codes with the
// OpenAPI document the service serves (openapitest.CheckReference), and the events test
// compares the event table and headers with common/events and common/bus.
//
// The reference is written for people; these are the only conventions the tests rely on:
//
//   - a route is a level-3 heading "### METHOD /path" (the path as the OpenAPI document
//     writes it), followed by a table whose rows start with its status codes ("| 201 |");
//   - the event table's rows start with the subject in backquotes ("| `ticket.created` |"),
//     then the stream, the publisher, the payload ("`{id, ticket: {id}}`") and who handles it.
package apidoc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Path is where the reference lives, from the repository's root.
const Path = "docs/API.md"

// Read returns the reference of the repository that holds the working directory: Path under
// the nearest directory upwards that has go.work.
func Read() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(Path)))
			return string(b), err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("apidoc: no go.work above the working directory")
		}
		dir = parent
	}
}

// Route is one documented operation.
type Route struct {
	Method   string // upper case
	Path     string // "/api/tickets/{id}"
	Statuses []int  // sorted
}

// Key is "METHOD /path".
func (r Route) Key() string { return r.Method + " " + r.Path }

var (
	routeHeading = regexp.MustCompile(`^### (GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|TRACE) (/\S*)\s*$`)
	statusRow    = regexp.MustCompile(`^\|\s*([1-5][0-9][0-9])\s*\|`)
)

// Routes lists the documented routes in the order of the reference, each with the status
// codes of its table. A route documented twice, or without a status row, is an error.
func Routes(doc string) ([]Route, error) {
	var out []Route
	var problems []string
	seen := map[string]bool{}
	current := -1
	for line := range strings.Lines(doc) {
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "#") {
			current = -1
			m := routeHeading.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			r := Route{Method: m[1], Path: m[2]}
			if seen[r.Key()] {
				problems = append(problems, r.Key()+" is documented twice")
			}
			seen[r.Key()] = true
			out = append(out, r)
			current = len(out) - 1
			continue
		}
		if current < 0 {
			continue
		}
		if m := statusRow.FindStringSubmatch(line); m != nil {
			code, _ := strconv.Atoi(m[1])
			r := &out[current]
			if slices.Contains(r.Statuses, code) {
				problems = append(problems, fmt.Sprintf("%s lists status %d twice", r.Key(), code))
				continue
			}
			r.Statuses = append(r.Statuses, code)
		}
	}
	for i := range out {
		slices.Sort(out[i].Statuses)
		if len(out[i].Statuses) == 0 {
			problems = append(problems, out[i].Key()+" has no status table")
		}
	}
	if len(problems) > 0 {
		return out, fmt.Errorf("%s: %s", Path, strings.Join(problems, "; "))
	}
	return out, nil
}

// Event is one row of the event table.
type Event struct {
	Subject   string
	Stream    string
	Publisher string
	Payload   Fields
	HandledBy string
}

// Fields is a payload's field names; a field that is an object has its own fields.
type Fields map[string]Fields

var eventRow = regexp.MustCompile("^\\|\\s*`([a-z]+\\.[a-z]+)`\\s*\\|")

// Events lists the rows of the event table by subject.
func Events(doc string) (map[string]Event, error) {
	out := map[string]Event{}
	for line := range strings.Lines(doc) {
		line = strings.TrimSpace(line)
		if !eventRow.MatchString(line) {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 5 {
			return nil, fmt.Errorf("%s: event row %q has %d cells, want 5 (subject, stream, published by, payload, handled by)", Path, line, len(cells))
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		e := Event{Subject: strings.Trim(cells[0], "`"), Stream: strings.Trim(cells[1], "`"), Publisher: cells[2], HandledBy: cells[4]}
		payload, err := ParseFields(strings.Trim(cells[3], "`"))
		if err != nil {
			return nil, fmt.Errorf("%s: %s payload: %w", Path, e.Subject, err)
		}
		e.Payload = payload
		if _, dup := out[e.Subject]; dup {
			return nil, fmt.Errorf("%s: event %s is documented twice", Path, e.Subject)
		}
		out[e.Subject] = e
	}
	return out, nil
}

// ParseFields reads a payload written as "{a, b, c: {d, e}}".
func ParseFields(s string) (Fields, error) {
	p := &fieldParser{s: s}
	f, err := p.object()
	if err != nil {
		return nil, err
	}
	if p.skipSpace(); p.i != len(p.s) {
		return nil, fmt.Errorf("unexpected %q after the payload", p.s[p.i:])
	}
	return f, nil
}

type fieldParser struct {
	s string
	i int
}

func (p *fieldParser) skipSpace() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *fieldParser) object() (Fields, error) {
	p.skipSpace()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return nil, fmt.Errorf("want '{' at %d in %q", p.i, p.s)
	}
	p.i++
	out := Fields{}
	for {
		p.skipSpace()
		start := p.i
		for p.i < len(p.s) && (p.s[p.i] >= 'a' && p.s[p.i] <= 'z' || p.s[p.i] >= 'A' && p.s[p.i] <= 'Z' || p.s[p.i] >= '0' && p.s[p.i] <= '9') {
			p.i++
		}
		name := p.s[start:p.i]
		if name == "" {
			return nil, fmt.Errorf("want a field name at %d in %q", p.i, p.s)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("field %s twice in %q", name, p.s)
		}
		p.skipSpace()
		var sub Fields
		if p.i < len(p.s) && p.s[p.i] == ':' {
			p.i++
			var err error
			if sub, err = p.object(); err != nil {
				return nil, err
			}
			p.skipSpace()
		}
		out[name] = sub
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("unterminated %q", p.s)
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return out, nil
		default:
			return nil, fmt.Errorf("want ',' or '}' at %d in %q", p.i, p.s)
		}
	}
}

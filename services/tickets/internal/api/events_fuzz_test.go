package api

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"ticketing/common/errs"
	"ticketing/common/web"
	"ticketing/services/tickets/internal/event"
)

// FuzzCreateEvent decodes arbitrary bodies as POST /api/events does. It never panics, every
// refusal is a 400-range errs.Error naming a field or the body, and every accepted event obeys
// the rules.
func FuzzCreateEvent(f *testing.F) {
	for _, seed := range []string{
		`{"title":"Gala","onSaleAt":"2030-01-01T00:00:00Z","tickets":{"count":10,"price":12.5}}`,
		`{"title":"Gala","onSaleAt":"2030-01-01T00:00:00.123+02:00","tickets":{"count":10000,"price":1},"maxPerUser":50,"admitPerMinute":100000}`,
		`{"title":"Gala","onSaleAt":"2030-01-01","tickets":{"count":10,"price":12.5}}`,
		`{"title":"Gala","onSaleAt":"2030-01-01T00:00:00Z","tickets":{"count":1.5,"price":12.5}}`,
		`{"title":"Gala","onSaleAt":"2030-01-01T00:00:00Z","tickets":{"count":-1,"price":"1"}}`,
		`{"title":"Gala","onSaleAt":"2030-01-01T00:00:00Z","tickets":null}`,
		`{"title":"Gala","onSaleAt":5,"tickets":{}}`,
		`{"tickets":{"count":1e10}}`,
		`{"title":"` + strings.Repeat("é", 191) + `","onSaleAt":"2030-01-01T00:00:00Z","tickets":{"count":1,"price":1}}`,
		`[]`, `null`, `{`, ``, `{"x":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req eventRequest
		err := web.DecodeReader(bytes.NewReader(body), &req)
		var s event.Spec
		if err == nil {
			s, err = req.spec()
		}
		if err != nil {
			if k := errs.KindOf(err); k.Status() < 400 || k.Status() >= 500 {
				t.Fatalf("%q: %v is a %d", body, err, k.Status())
			}
			return
		}
		switch {
		case s.Title == "" || utf8.RuneCountInString(s.Title) > event.MaxTitleRunes:
			t.Fatalf("%q: title %q", body, s.Title)
		case s.OnSaleAt.IsZero():
			t.Fatalf("%q: no onSaleAt", body)
		case s.Count < 1 || s.Count > event.MaxTickets:
			t.Fatalf("%q: count %d", body, s.Count)
		case s.PriceCents < 1:
			t.Fatalf("%q: price %d", body, s.PriceCents)
		case s.MaxPerUser < 1 || s.MaxPerUser > event.MaxMaxPerUser:
			t.Fatalf("%q: maxPerUser %d", body, s.MaxPerUser)
		case s.AdmitPerMinute < 1 || s.AdmitPerMinute > event.MaxAdmitPerMinute:
			t.Fatalf("%q: admitPerMinute %d", body, s.AdmitPerMinute)
		}
	})
}

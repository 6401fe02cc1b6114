package event_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"ticketing/services/tickets/internal/event"
	"ticketing/services/tickets/internal/ticket"
)

func ptr[T any](v T) *T { return &v }

func TestNewSpec(t *testing.T) {
	at := time.Date(2030, 1, 1, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	valid := func() event.Request {
		return event.Request{Title: ptr(" Gala "), OnSaleAt: &at, Count: ptr(3), Price: ptr("12.5")}
	}
	s, err := event.NewSpec(valid())
	if err != nil {
		t.Fatal(err)
	}
	want := event.Spec{Title: "Gala", OnSaleAt: at.UTC().Truncate(time.Millisecond), Count: 3, PriceCents: 1250,
		MaxPerUser: event.DefaultMaxPerUser, AdmitPerMinute: event.DefaultAdmitPerMinute}
	if s != want {
		t.Errorf("spec %+v, want %+v", s, want)
	}
	for name, tc := range map[string]struct {
		change func(*event.Request)
		want   []error
	}{
		"no title":        {func(r *event.Request) { r.Title = nil }, []error{ticket.ErrTitleRequired}},
		"long title":      {func(r *event.Request) { r.Title = ptr(strings.Repeat("a", 191)) }, []error{event.ErrTitleTooLong}},
		"no time":         {func(r *event.Request) { r.OnSaleAt = nil }, []error{event.ErrOnSaleAtRequired}},
		"zero count":      {func(r *event.Request) { r.Count = ptr(0) }, []error{event.ErrCountRange}},
		"too many":        {func(r *event.Request) { r.Count = ptr(10_001) }, []error{event.ErrCountRange}},
		"bad price":       {func(r *event.Request) { r.Price = ptr("0") }, []error{ticket.ErrPriceNotAbove0}},
		"limit 0":         {func(r *event.Request) { r.MaxPerUser = ptr(0) }, []error{event.ErrMaxPerUserRange}},
		"limit 51":        {func(r *event.Request) { r.MaxPerUser = ptr(51) }, []error{event.ErrMaxPerUserRange}},
		"rate 0":          {func(r *event.Request) { r.AdmitPerMinute = ptr(0) }, []error{event.ErrAdmitRange}},
		"all of it wrong": {func(r *event.Request) { *r = event.Request{} }, []error{ticket.ErrTitleRequired, event.ErrOnSaleAtRequired, event.ErrCountRange, ticket.ErrPriceRequired}},
	} {
		r := valid()
		tc.change(&r)
		_, err := event.NewSpec(r)
		for _, w := range tc.want {
			if !errors.Is(err, w) {
				t.Errorf("%s: %v, want %v", name, err, w)
			}
		}
	}
}

func TestTickets(t *testing.T) {
	e := event.New("e1", "alice", event.Spec{Title: "Gala", Count: 2, PriceCents: 500, MaxPerUser: 1, AdmitPerMinute: 1}, time.Now())
	ts, err := e.Tickets([]string{"a", "b"}, time.Now())
	if err != nil || len(ts) != 2 || ts[1].Title != "Gala #2" || ts[0].EventID != "e1" || ts[0].UserID != "alice" || ts[1].PriceCents != 500 {
		t.Fatalf("%+v %v", ts, err)
	}
	if ts[0].Created().EventID != "e1" {
		t.Error("ticket.created without eventId")
	}
	if _, err := e.Tickets([]string{"a"}, time.Now()); err == nil {
		t.Error("one id for two tickets")
	}
}

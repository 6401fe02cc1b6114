// Package event holds the rules of an event: an on-sale of many tickets at once that opens
// at a set time, with a limit of live orders per buyer and an admission rate for its waiting
// room. It knows no database, bus or HTTP; its errors are plain sentinels that the API words
// for clients.
package event

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"ticketing/common/events"
	"ticketing/services/tickets/internal/ticket"
)

// Limits of an event.
const (
	MaxTickets            = 10_000
	MaxTitleRunes         = 190 // the tickets are titled "<title> #<n>", at most ticket.MaxTitleRunes
	DefaultMaxPerUser     = 4
	MaxMaxPerUser         = 50
	DefaultAdmitPerMinute = 600
	MaxAdmitPerMinute     = 100_000
)

// Event is an on-sale: TicketCount tickets of PriceCents each, listed by UserID, that can be
// ordered from OnSaleAt by buyers admitted from the waiting room.
type Event struct {
	ID             string
	Title          string
	UserID         string
	OnSaleAt       time.Time
	TicketCount    int
	PriceCents     int64
	MaxPerUser     int
	AdmitPerMinute int
	Version        int64
	CreatedAt      time.Time
}

// Errors of the rules.
var (
	ErrNotFound = errors.New("event not found")

	ErrTitleTooLong     = errors.New("title must be at most 190 characters")
	ErrOnSaleAtRequired = errors.New("onSaleAt is required")
	ErrCountRange       = errors.New("tickets.count must be an integer from 1 to 10000")
	ErrMaxPerUserRange  = errors.New("maxPerUser must be an integer from 1 to 50")
	ErrAdmitRange       = errors.New("admitPerMinute must be an integer from 1 to 100000")
)

// Spec is what a seller asks for, checked.
type Spec struct {
	Title          string
	OnSaleAt       time.Time
	Count          int
	PriceCents     int64
	MaxPerUser     int
	AdmitPerMinute int
}

// Request is a seller's request as sent: a nil pointer is a missing value. Price is the text
// of a JSON number (ticket.ParsePrice).
type Request struct {
	Title          *string
	OnSaleAt       *time.Time
	Count          *int
	Price          *string
	MaxPerUser     *int
	AdmitPerMinute *int
}

// NewSpec checks r. The error joins every rule r breaks: the title's (ticket.ErrTitle...,
// ErrTitleTooLong), the price's (ticket.ErrPrice...), and this package's.
func NewSpec(r Request) (Spec, error) {
	s := Spec{MaxPerUser: DefaultMaxPerUser, AdmitPerMinute: DefaultAdmitPerMinute}
	var errs []error
	if r.Title == nil {
		errs = append(errs, ticket.ErrTitleRequired)
	} else if title, err := ticket.NewTitle(*r.Title); err != nil {
		errs = append(errs, err)
	} else if utf8.RuneCountInString(title) > MaxTitleRunes {
		errs = append(errs, ErrTitleTooLong)
	} else {
		s.Title = title
	}
	if r.OnSaleAt == nil || r.OnSaleAt.IsZero() {
		errs = append(errs, ErrOnSaleAtRequired)
	} else {
		s.OnSaleAt = r.OnSaleAt.UTC().Truncate(time.Millisecond)
	}
	if r.Count == nil || *r.Count < 1 || *r.Count > MaxTickets {
		errs = append(errs, ErrCountRange)
	} else {
		s.Count = *r.Count
	}
	if r.Price == nil {
		errs = append(errs, ticket.ErrPriceRequired)
	} else if p, err := ticket.ParsePrice(*r.Price); err != nil {
		errs = append(errs, err)
	} else {
		s.PriceCents = p
	}
	if r.MaxPerUser != nil {
		if *r.MaxPerUser < 1 || *r.MaxPerUser > MaxMaxPerUser {
			errs = append(errs, ErrMaxPerUserRange)
		}
		s.MaxPerUser = *r.MaxPerUser
	}
	if r.AdmitPerMinute != nil {
		if *r.AdmitPerMinute < 1 || *r.AdmitPerMinute > MaxAdmitPerMinute {
			errs = append(errs, ErrAdmitRange)
		}
		s.AdmitPerMinute = *r.AdmitPerMinute
	}
	if err := errors.Join(errs...); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// New is the event of s, created by userID, at version 0.
func New(id, userID string, s Spec, now time.Time) Event {
	return Event{
		ID: id, Title: s.Title, UserID: userID, OnSaleAt: s.OnSaleAt, TicketCount: s.Count,
		PriceCents: s.PriceCents, MaxPerUser: s.MaxPerUser, AdmitPerMinute: s.AdmitPerMinute,
		CreatedAt: now.UTC(),
	}
}

// Tickets are the event's tickets, titled "<title> #<n>" from 1, each with the id ids[n-1];
// len(ids) must be TicketCount.
func (e Event) Tickets(ids []string, now time.Time) ([]ticket.Ticket, error) {
	if len(ids) != e.TicketCount {
		return nil, fmt.Errorf("event %s: %d ids for %d tickets", e.ID, len(ids), e.TicketCount)
	}
	out := make([]ticket.Ticket, len(ids))
	for i, id := range ids {
		t := ticket.New(id, e.UserID, ticket.Details{Title: fmt.Sprintf("%s #%d", e.Title, i+1), PriceCents: e.PriceCents}, now)
		t.EventID = e.ID
		out[i] = t
	}
	return out, nil
}

// Created is the event.created event of e.
func (e Event) Created() events.EventCreated {
	return events.EventCreated{
		ID: e.ID, Version: e.Version, Title: e.Title, UserID: e.UserID, OnSaleAt: e.OnSaleAt,
		TicketCount: e.TicketCount, MaxPerUser: e.MaxPerUser, AdmitPerMinute: e.AdmitPerMinute,
	}
}

package order

import (
	"errors"
	"testing"
	"time"
)

func TestNextCoversEveryStatusAndEvent(t *testing.T) {
	type want struct {
		next Status
		err  error
	}
	table := map[Status]map[Event]want{
		Created: {
			CancelByUser: {Cancelled, nil},
			Expire:       {Cancelled, nil},
			Pay:          {Complete, nil},
		},
		AwaitingPayment: {
			CancelByUser: {Cancelled, nil},
			Expire:       {Cancelled, nil},
			Pay:          {Complete, nil},
		},
		Cancelled: {
			CancelByUser: {Cancelled, nil},          // idempotent DELETE: 204 again
			Expire:       {Cancelled, nil},          // late expiry: ack
			Pay:          {Cancelled, ErrCancelled}, // payments refunds
		},
		Complete: {
			CancelByUser: {Complete, ErrComplete}, // 409
			Expire:       {Complete, nil},         // a paid order is never cancelled
			Pay:          {Complete, nil},         // duplicate payment.created: ack
		},
	}
	if len(table) != len(Statuses) {
		t.Fatalf("table has %d statuses, the domain %d", len(table), len(Statuses))
	}
	for _, s := range Statuses {
		row, ok := table[s]
		if !ok || len(row) != len(Events) {
			t.Fatalf("table row for %s does not cover every event", s)
		}
		for _, e := range Events {
			w := row[e]
			t.Run(string(s)+"/"+e.String(), func(t *testing.T) {
				got, err := Next(s, e)
				if got != w.next || !errors.Is(err, w.err) || (w.err == nil) != (err == nil) {
					t.Errorf("Next(%s, %s) = %s, %v; want %s, %v", s, e, got, err, w.next, w.err)
				}
				// A final status never moves; a live one always does.
				if !s.Live() && got != s {
					t.Errorf("final status %s moved to %s", s, got)
				}
				if s.Live() && got == s {
					t.Errorf("live status %s did not move on %s", s, e)
				}
			})
		}
	}
}

func TestNextRefusesUnknownStatusAndEvent(t *testing.T) {
	if _, err := Next("shipped", Pay); !errors.Is(err, ErrUnknownStatus) {
		t.Errorf("unknown status: err = %v, want ErrUnknownStatus", err)
	}
	if _, err := Next(Created, Event(99)); err == nil {
		t.Error("unknown event: no error")
	}
}

func TestStatusPredicates(t *testing.T) {
	for _, tc := range []struct {
		s           Status
		live, valid bool
	}{
		{Created, true, true},
		{AwaitingPayment, true, true},
		{Cancelled, false, true},
		{Complete, false, true},
		{"", false, false},
		{"paid", false, false},
	} {
		if tc.s.Live() != tc.live || tc.s.Valid() != tc.valid {
			t.Errorf("%q: Live %v Valid %v, want %v %v", tc.s, tc.s.Live(), tc.s.Valid(), tc.live, tc.valid)
		}
	}
}

func TestNewOrder(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	tk := Ticket{ID: "t1", Title: "Concert", PriceCents: 2010, Version: 3}
	o := New("o1", "u1", tk, now, 15*time.Minute)
	if o.Status != Created || o.Version != 0 || o.Ticket != tk || o.UserID != "u1" || o.ID != "o1" {
		t.Errorf("New = %+v", o)
	}
	if want := now.Add(15 * time.Minute).UTC(); !o.ExpiresAt.Equal(want) || o.ExpiresAt.Location() != time.UTC {
		t.Errorf("ExpiresAt = %v, want %v in UTC", o.ExpiresAt, want)
	}
}

func TestVisibleTo(t *testing.T) {
	o := Order{UserID: "u1"}
	if err := o.VisibleTo("u1"); err != nil {
		t.Errorf("owner: %v", err)
	}
	if err := o.VisibleTo("u2"); !errors.Is(err, ErrForbidden) {
		t.Errorf("other user: %v, want ErrForbidden", err)
	}
}

func TestCheckExpiry(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	o := Order{ExpiresAt: at}
	for _, tc := range []struct {
		now  time.Time
		want error
	}{
		{at.Add(-time.Millisecond), ErrTooEarly},
		{at, nil},
		{at.Add(time.Second), nil},
	} {
		if err := o.CheckExpiry(tc.now); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("CheckExpiry(%v) = %v, want %v", tc.now, err, tc.want)
		}
	}
}

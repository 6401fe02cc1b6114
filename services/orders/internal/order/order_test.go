package order

import (
	"errors"
	"testing"
	"time"

	"ticketing/common/events"
)

const (
	Created         = events.OrderStatusCreated
	AwaitingPayment = events.OrderStatusAwaitingPayment
	Cancelled       = events.OrderStatusCancelled
	Complete        = events.OrderStatusComplete
)

var Statuses = events.OrderStatuses

type Status = events.OrderStatus

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

func TestApplyMovesToTheNextVersionOnlyOnAChange(t *testing.T) {
	o := New("o1", "u1", Ticket{ID: "t1", PriceCents: 500}, time.Now(), time.Minute)
	got, err := o.Apply(Expire)
	if err != nil || got.Status != Cancelled || got.Version != 1 {
		t.Fatalf("expire = %s v%d, %v; want cancelled v1", got.Status, got.Version, err)
	}
	again, err := got.Apply(CancelByUser)
	if err != nil || again != got {
		t.Fatalf("cancel of a cancelled order = %+v, %v; want it unchanged", again, err)
	}
	if _, err := got.Apply(Pay); !errors.Is(err, ErrCancelled) {
		t.Fatalf("pay of a cancelled order: %v, want ErrCancelled", err)
	}
}

func TestEventAnnouncesTheStatus(t *testing.T) {
	o := New("o1", "u1", Ticket{ID: "t1", PriceCents: 500}, time.Now(), time.Minute)
	if e, ok := o.Event().(events.OrderCreated); !ok || e.ID != "o1" || e.Status != Created || e.Ticket.PriceCents != 500 || e.Validate() != nil {
		t.Errorf("a new order's event = %#v, want a valid order.created", o.Event())
	}
	paid, _ := o.Apply(Pay)
	if e, ok := paid.Event().(events.OrderCompleted); !ok || e.Version != 1 || e.Ticket.ID != "t1" {
		t.Errorf("a paid order's event = %#v, want order.completed at version 1", paid.Event())
	}
	gone, _ := o.Apply(Expire)
	if e, ok := gone.Event().(events.OrderCancelled); !ok || e.Version != 1 || e.Ticket.ID != "t1" {
		t.Errorf("a cancelled order's event = %#v, want order.cancelled at version 1", gone.Event())
	}
}

func TestHold(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	o := New("o1", "u1", Ticket{ID: "t1"}, now, 15*time.Minute)
	taken := HoldFor(o, time.Minute)
	if taken.OrderID != "o1" || !taken.Until.Equal(now.Add(16*time.Minute)) {
		t.Fatalf("HoldFor = %+v, want o1 until expiresAt + 1m", taken)
	}
	for _, tc := range []struct {
		name      string
		hold      Hold
		at        time.Time
		free      bool
		permanent bool
	}{
		{"nobody holds it", Hold{}, now, true, false},
		{"nobody, with a stale end", Hold{Until: now.Add(time.Hour)}, now, true, false},
		{"a live hold", taken, now, false, false},
		{"the last instant of the hold", taken, taken.Until, false, false},
		{"a hold that lapsed", taken, taken.Until.Add(time.Millisecond), true, false},
		{"a permanent hold", taken.Permanent(), now, false, true},
		{"a permanent hold, centuries later", taken.Permanent(), now.AddDate(500, 0, 0), false, true},
	} {
		if got := tc.hold.Free(tc.at); got != tc.free {
			t.Errorf("%s: Free = %t, want %t", tc.name, got, tc.free)
		}
		if got := tc.hold.IsPermanent(); got != tc.permanent {
			t.Errorf("%s: IsPermanent = %t, want %t", tc.name, got, tc.permanent)
		}
	}
	if p := taken.Permanent(); p.OrderID != "o1" || !p.Until.Equal(Forever) {
		t.Errorf("Permanent = %+v, want o1 until Forever", p)
	}
}

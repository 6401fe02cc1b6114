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
			CancelByUser:  {Cancelled, nil},
			Expire:        {Cancelled, nil},
			Pay:           {Complete, nil},
			StartPayment:  {AwaitingPayment, nil},
			FailPayment:   {Created, nil}, // a failure already applied
			TicketChanged: {Cancelled, nil},
		},
		AwaitingPayment: {
			CancelByUser:  {Cancelled, nil},
			Expire:        {Cancelled, nil},
			Pay:           {Complete, nil},
			StartPayment:  {AwaitingPayment, nil}, // a redelivered start
			FailPayment:   {Created, nil},
			TicketChanged: {Cancelled, nil},
		},
		Cancelled: {
			CancelByUser:  {Cancelled, nil},          // idempotent DELETE: 204 again
			Expire:        {Cancelled, nil},          // late expiry: ack
			Pay:           {Cancelled, ErrCancelled}, // payments refunds
			StartPayment:  {Cancelled, nil},          // too late: the payment is refunded if it succeeds
			FailPayment:   {Cancelled, nil},
			TicketChanged: {Cancelled, nil},
		},
		Complete: {
			CancelByUser:  {Complete, ErrComplete}, // 409
			Expire:        {Complete, nil},         // a paid order is never cancelled
			Pay:           {Complete, nil},         // duplicate payment.created: ack
			StartPayment:  {Complete, nil},
			FailPayment:   {Complete, nil},
			TicketChanged: {Cancelled, nil}, // paid before the refusal arrived: payments refunds
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
				// A final status never moves (but a paid order whose ticket the tickets service
				// never reserved: refunded); a live one always ends on a final event.
				if !s.Live() && got != s && (s != Complete || e != TicketChanged) {
					t.Errorf("final status %s moved to %s", s, got)
				}
				if s.Live() && got == s && e != StartPayment && e != FailPayment {
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
	got, err := o.Apply(Expire, time.Now())
	if err != nil || got.Status != Cancelled || got.Version != 1 {
		t.Fatalf("expire = %s v%d, %v; want cancelled v1", got.Status, got.Version, err)
	}
	again, err := got.Apply(CancelByUser, time.Now())
	if err != nil || again.Version != got.Version || again.Status != got.Status || len(again.History) != len(got.History) {
		t.Fatalf("cancel of a cancelled order = %+v, %v; want it unchanged", again, err)
	}
	if _, err := got.Apply(Pay, time.Now()); !errors.Is(err, ErrCancelled) {
		t.Fatalf("pay of a cancelled order: %v, want ErrCancelled", err)
	}
}

func TestEventAnnouncesTheStatus(t *testing.T) {
	o := New("o1", "u1", Ticket{ID: "t1", PriceCents: 500, Version: 3}, time.Now(), time.Minute)
	if e, ok := o.Event().(events.OrderCreated); !ok || e.ID != "o1" || e.Status != Created || e.Ticket.PriceCents != 500 ||
		e.Ticket.Version == nil || *e.Ticket.Version != 3 || e.Validate() != nil {
		t.Errorf("a new order's event = %#v, want a valid order.created", o.Event())
	}
	paid, _ := o.Apply(Pay, time.Now())
	if e, ok := paid.Event().(events.OrderCompleted); !ok || e.Version != 1 || e.Ticket.ID != "t1" {
		t.Errorf("a paid order's event = %#v, want order.completed at version 1", paid.Event())
	}
	gone, _ := o.Apply(Expire, time.Now())
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

// at is the order's clock in the saga tests: created at t0 with a 10 s window; a payment
// grace of 5 s.
var (
	t0    = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	grace = 5 * time.Second
)

// inStatus is an order in status s as the saga leaves it: awaiting attempt 1 of a payment
// started 1 s before the window's end, or paid or cancelled after.
func inStatus(t *testing.T, s Status) Order {
	t.Helper()
	o := New("o1", "u1", Ticket{ID: "t1", PriceCents: 500}, t0, 10*time.Second)
	var err error
	switch s {
	case AwaitingPayment:
		o, err = o.StartPayment(1, t0.Add(9*time.Second), grace)
	case Cancelled:
		o, err = o.Apply(CancelByUser, t0.Add(time.Second))
	case Complete:
		o, err = o.Apply(Pay, t0.Add(time.Second))
	}
	if err != nil || o.Status != s {
		t.Fatalf("order in %s: got %s, %v", s, o.Status, err)
	}
	return o
}

// on applies e to o at now, as the application does: the payment events for attempt 1.
func on(o Order, e Event, now time.Time) (Order, error) {
	switch e {
	case StartPayment:
		return o.StartPayment(1, now, grace)
	case FailPayment:
		return o.FailPayment(1, now)
	}
	return o.Apply(e, now)
}

// Every (status, event) pair through the order's own methods: the status, the deadline, the
// version and the history after it.
func TestEveryStatusAndEventOnTheOrder(t *testing.T) {
	now := t0.Add(9500 * time.Millisecond) // before the window's end (t0+10s)
	extended := t0.Add(14 * time.Second)   // the start at t0+9s plus the grace
	type want struct {
		status    Status
		expiresAt time.Time
		cause     Cause // of the new history entry; "" when nothing changes
		err       error
	}
	table := map[Status]map[Event]want{
		Created: {
			CancelByUser:  {Cancelled, t0.Add(10 * time.Second), CauseCancelledByUser, nil},
			Expire:        {Cancelled, t0.Add(10 * time.Second), CauseExpired, nil},
			Pay:           {Complete, t0.Add(10 * time.Second), CausePaid, nil},
			StartPayment:  {AwaitingPayment, now.Add(grace), CausePaymentStarted, nil},
			FailPayment:   {Created, t0.Add(10 * time.Second), "", ErrAttemptNotStarted},
			TicketChanged: {Cancelled, t0.Add(10 * time.Second), CauseTicketChanged, nil},
		},
		AwaitingPayment: {
			CancelByUser:  {Cancelled, extended, CauseCancelledByUser, nil},
			Expire:        {Cancelled, extended, CauseExpired, nil},
			Pay:           {Complete, extended, CausePaid, nil},
			StartPayment:  {AwaitingPayment, extended, "", nil},
			FailPayment:   {Created, t0.Add(10 * time.Second), CausePaymentFailed, nil},
			TicketChanged: {Cancelled, extended, CauseTicketChanged, nil},
		},
		Cancelled: {
			CancelByUser:  {Cancelled, t0.Add(10 * time.Second), "", nil},
			Expire:        {Cancelled, t0.Add(10 * time.Second), "", nil},
			Pay:           {Cancelled, t0.Add(10 * time.Second), "", ErrCancelled},
			StartPayment:  {Cancelled, t0.Add(10 * time.Second), "", nil},
			FailPayment:   {Cancelled, t0.Add(10 * time.Second), "", nil},
			TicketChanged: {Cancelled, t0.Add(10 * time.Second), "", nil},
		},
		Complete: {
			CancelByUser:  {Complete, t0.Add(10 * time.Second), "", ErrComplete},
			Expire:        {Complete, t0.Add(10 * time.Second), "", nil},
			Pay:           {Complete, t0.Add(10 * time.Second), "", nil},
			StartPayment:  {Complete, t0.Add(10 * time.Second), "", nil},
			FailPayment:   {Complete, t0.Add(10 * time.Second), "", nil},
			TicketChanged: {Cancelled, t0.Add(10 * time.Second), CauseTicketChanged, nil},
		},
	}
	for _, s := range Statuses {
		for _, e := range Events {
			w, ok := table[s][e]
			if !ok {
				t.Fatalf("no case for %s/%s", s, e)
			}
			t.Run(string(s)+"/"+e.String(), func(t *testing.T) {
				o := inStatus(t, s)
				got, err := on(o, e, now)
				if !errors.Is(err, w.err) || (w.err == nil) != (err == nil) {
					t.Fatalf("err = %v, want %v", err, w.err)
				}
				if got.Status != w.status || !got.ExpiresAt.Equal(w.expiresAt) {
					t.Errorf("= %s until %v, want %s until %v", got.Status, got.ExpiresAt, w.status, w.expiresAt)
				}
				switch {
				case w.cause == "" && (got.Version != o.Version || len(got.History) != len(o.History)):
					t.Errorf("changed to v%d with history %v; want no change", got.Version, got.History)
				case w.cause != "" && (got.Version != o.Version+1 || len(got.History) != len(o.History)+1 ||
					got.History[len(got.History)-1] != Change{Status: w.status, At: now, Cause: w.cause}):
					t.Errorf("v%d history %v; want v%d and {%s %v %s} added", got.Version, got.History, o.Version+1, w.status, now, w.cause)
				}
			})
		}
	}
}

func TestPaymentHoldIsExtendedOnce(t *testing.T) {
	o := New("o1", "u1", Ticket{ID: "t1", PriceCents: 500}, t0, 10*time.Second)
	// Started 1 s before the window's end: the deadline is the start plus the grace.
	a, err := o.StartPayment(1, t0.Add(9*time.Second), grace)
	if err != nil || a.Status != AwaitingPayment || !a.ExpiresAt.Equal(t0.Add(14*time.Second)) {
		t.Fatalf("start = %s until %v, %v", a.Status, a.ExpiresAt, err)
	}
	if e, ok := a.Event().(events.OrderUpdated); !ok || e.Status != AwaitingPayment || !e.ExpiresAt.Equal(a.ExpiresAt) ||
		e.Cause != "payment-started" || e.Version != 1 || e.Validate() != nil {
		t.Errorf("event = %#v, want order.updated awaiting:payment at the new deadline", a.Event())
	}
	// Failed: created again, with the original deadline.
	c, err := a.FailPayment(1, t0.Add(9500*time.Millisecond))
	if err != nil || c.Status != Created || !c.ExpiresAt.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("fail = %s until %v, %v", c.Status, c.ExpiresAt, err)
	}
	if e, ok := c.Event().(events.OrderUpdated); !ok || e.Status != Created || e.Cause != "payment-failed" {
		t.Errorf("event = %#v, want order.updated created", c.Event())
	}
	// A second attempt is not extended again: it gets the deadline of the first.
	b, err := c.StartPayment(2, t0.Add(9900*time.Millisecond), grace)
	if err != nil || b.Status != AwaitingPayment || !b.ExpiresAt.Equal(t0.Add(14*time.Second)) {
		t.Fatalf("second start = %s until %v, %v", b.Status, b.ExpiresAt, err)
	}
	// A late start of the first attempt changes nothing; nor does its failure.
	if again, err := b.StartPayment(1, t0.Add(10*time.Second), grace); err != nil || again.Version != b.Version {
		t.Errorf("stale start: v%d, %v", again.Version, err)
	}
	if again, err := b.FailPayment(1, t0.Add(10*time.Second)); err != nil || again.Version != b.Version {
		t.Errorf("stale failure: v%d, %v", again.Version, err)
	}
	// A failure after the original deadline expires the order.
	x, err := b.FailPayment(2, t0.Add(11*time.Second))
	if err != nil || x.Status != Cancelled || x.Cause() != CauseExpired {
		t.Fatalf("late fail = %s (%s), %v; want cancelled (expired)", x.Status, x.Cause(), err)
	}
	// A window longer than the grace is kept: the hold is never shortened.
	long := New("o2", "u1", Ticket{ID: "t1", PriceCents: 500}, t0, time.Hour)
	l, _ := long.StartPayment(1, t0.Add(time.Second), grace)
	if !l.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("long window: until %v, want %v", l.ExpiresAt, t0.Add(time.Hour))
	}
	if want := []Cause{CauseCreated, CausePaymentStarted, CausePaymentFailed, CausePaymentStarted, CauseExpired}; len(x.History) != len(want) {
		t.Errorf("history %v, want causes %v", x.History, want)
	} else {
		for i, c := range want {
			if x.History[i].Cause != c {
				t.Errorf("history[%d] = %v, want cause %s", i, x.History[i], c)
			}
		}
	}
}

package ticket_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"ticketing/services/tickets/internal/ticket"
)

func TestParsePrice(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{in: "20", want: 2000},
		{in: "20.1", want: 2010},
		{in: "20.10", want: 2010},
		{in: "20.100", want: 2010}, // the value has one decimal
		{in: "0.01", want: 1},
		{in: "0.1", want: 10},
		{in: "19.99", want: 1999},
		{in: "1.005e2", want: 10050},
		{in: "2E1", want: 2000},
		{in: "1e-2", want: 1},
		{in: "1000000", want: 100_000_000},
		{in: "1000000.00", want: 100_000_000},
		{in: "1e6", want: 100_000_000},
		{in: "0.29", want: 29}, // 0.29*100 is 28.999999999999996 in float64
		{in: "1000000.01", err: "at most 1000000"},
		{in: "1e7", err: "at most 1000000"},
		{in: "1e999999999999", err: "at most 1000000"},
		{in: "99999999999999999999999", err: "at most 1000000"},
		{in: "0.001", err: "at most 2 decimals"},
		{in: "20.105", err: "at most 2 decimals"},
		{in: "1e-3", err: "at most 2 decimals"},
		{in: "1e-999999999999", err: "at most 2 decimals"},
		{in: "0", err: "greater than 0"},
		{in: "0.00", err: "greater than 0"},
		{in: "0e5", err: "greater than 0"},
		{in: "-5", err: "greater than 0"},
		{in: "-0.001", err: "greater than 0"},
		{in: "", err: "must be a number"},
		{in: `"20"`, err: "must be a number"},
		{in: "true", err: "must be a number"},
		{in: "{}", err: "must be a number"},
		{in: "[1]", err: "must be a number"},
		{in: "01", err: "must be a number"},
		{in: "1.", err: "must be a number"},
		{in: ".5", err: "must be a number"},
		{in: "+5", err: "must be a number"},
		{in: "1e", err: "must be a number"},
		{in: "1e+", err: "must be a number"},
		{in: "NaN", err: "must be a number"},
		{in: "Infinity", err: "must be a number"},
		{in: "0x10", err: "must be a number"},
		{in: "1_000", err: "must be a number"},
		{in: " 5", err: "must be a number"},
	} {
		got, err := ticket.ParsePrice(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParsePrice(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParsePrice(%q) = %d, %v; want an error saying %q", tc.in, got, err, tc.err)
		}
	}
}

func TestFormatPriceReadsBack(t *testing.T) {
	for cents, want := range map[int64]string{1: "0.01", 10: "0.1", 99: "0.99", 100: "1", 2010: "20.1",
		2001: "20.01", 100_000_000: "1000000", 12345: "123.45"} {
		if got := ticket.FormatPrice(cents); got != want {
			t.Errorf("FormatPrice(%d) = %q, want %q", cents, got, want)
		}
	}
	for cents := int64(1); cents <= 100_000; cents++ {
		if back, err := ticket.ParsePrice(ticket.FormatPrice(cents)); err != nil || back != cents {
			t.Fatalf("ParsePrice(FormatPrice(%d)) = %d, %v", cents, back, err)
		}
	}
}

func ptr(s string) *string { return &s }

func TestNewDetails(t *testing.T) {
	for _, tc := range []struct {
		name         string
		title, price *string
		want         ticket.Details
		fields       map[string]string // field -> part of its message
	}{
		{name: "valid", title: ptr("Concert"), price: ptr("20.5"), want: ticket.Details{Title: "Concert", PriceCents: 2050}},
		{name: "title trimmed", title: ptr("  Concert \t"), price: ptr("1"), want: ticket.Details{Title: "Concert", PriceCents: 100}},
		{name: "200 characters", title: ptr(strings.Repeat("é", 200)), price: ptr("1"), want: ticket.Details{Title: strings.Repeat("é", 200), PriceCents: 100}},
		{name: "200 characters after trimming", title: ptr(" " + strings.Repeat("a", 200) + " "), price: ptr("1"), want: ticket.Details{Title: strings.Repeat("a", 200), PriceCents: 100}},
		{name: "201 characters", title: ptr(strings.Repeat("é", 201)), price: ptr("1"), fields: map[string]string{"title": "at most 200"}},
		{name: "missing both", fields: map[string]string{"title": "required", "price": "required"}},
		{name: "blank title", title: ptr("   "), price: ptr("1"), fields: map[string]string{"title": "required"}},
		{name: "empty title", title: ptr(""), price: ptr("1"), fields: map[string]string{"title": "required"}},
		{name: "control character", title: ptr("a\nb"), price: ptr("1"), fields: map[string]string{"title": "control"}},
		{name: "bad title and price", title: ptr(""), price: ptr("-1"), fields: map[string]string{"title": "required", "price": "greater than 0"}},
		{name: "price not a number", title: ptr("a"), price: ptr(`"10"`), fields: map[string]string{"price": "must be a number"}},
		{name: "price with 3 decimals", title: ptr("a"), price: ptr("1.001"), fields: map[string]string{"price": "2 decimals"}},
		{name: "price too high", title: ptr("a"), price: ptr("1000000.01"), fields: map[string]string{"price": "at most"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ticket.NewDetails(tc.title, tc.price)
			if tc.fields == nil {
				if err != nil || got != tc.want {
					t.Fatalf("NewDetails = %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewDetails = %+v, want an error", got)
			}
			titleRules := []error{ticket.ErrTitleRequired, ticket.ErrTitleTooLong, ticket.ErrTitleNotUTF8, ticket.ErrTitleControl}
			priceRules := []error{ticket.ErrPriceRequired, ticket.ErrPriceNotNumber, ticket.ErrPriceNotAbove0, ticket.ErrPriceDecimals, ticket.ErrPriceTooHigh}
			for field, rules := range map[string][]error{"title": titleRules, "price": priceRules} {
				want, bad := tc.fields[field]
				var broken error
				for _, r := range rules {
					if errors.Is(err, r) {
						broken = r
					}
				}
				if bad != (broken != nil) || bad && !strings.Contains(broken.Error(), want) {
					t.Errorf("%s: %v, want an error saying %q (all: %v)", field, broken, want, err)
				}
			}
		})
	}
}

var now = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func listed() ticket.Ticket {
	return ticket.New("t1", "u1", ticket.Details{Title: "Concert", PriceCents: 2000}, now)
}

// with returns t after f changed it.
func with(t ticket.Ticket, f func(*ticket.Ticket)) ticket.Ticket {
	t.ReleasedOrders = append([]string(nil), t.ReleasedOrders...)
	f(&t)
	return t
}

func TestNew(t *testing.T) {
	got := listed()
	want := ticket.Ticket{ID: "t1", Title: "Concert", PriceCents: 2000, UserID: "u1", CreatedAt: now}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("New = %+v, want %+v", got, want)
	}
}

func TestEdit(t *testing.T) {
	d := ticket.Details{Title: "Opera", PriceCents: 3000}
	free := listed()
	for _, tc := range []struct {
		name string
		t    ticket.Ticket
		user string
		want ticket.Ticket
		err  error
	}{
		{"owner edits a free ticket", free, "u1", with(free, func(t *ticket.Ticket) { t.Title, t.PriceCents, t.Version, t.EditedVersion = "Opera", 3000, 1, 1 }), nil},
		{"same details still make a version", with(free, func(t *ticket.Ticket) { t.Title, t.PriceCents = "Opera", 3000 }), "u1",
			with(free, func(t *ticket.Ticket) { t.Title, t.PriceCents, t.Version, t.EditedVersion = "Opera", 3000, 1, 1 }), nil},
		{"another user", free, "u2", free, ticket.ErrNotOwner},
		{"reserved", with(free, func(t *ticket.Ticket) { t.OrderID, t.Version = "o1", 1 }), "u1", ticket.Ticket{}, ticket.ErrReserved},
		{"sold", with(free, func(t *ticket.Ticket) { t.OrderID, t.Sold, t.Version = "o1", true, 2 }), "u1", ticket.Ticket{}, ticket.ErrReserved},
		{"another user on a reserved ticket is forbidden first", with(free, func(t *ticket.Ticket) { t.OrderID = "o1" }), "u2", ticket.Ticket{}, ticket.ErrNotOwner},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.t.Edit(tc.user, d)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Edit error = %v, want %v", err, tc.err)
			}
			if err == nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Edit = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestOrderTransitions(t *testing.T) {
	free := listed()
	reserved := with(free, func(t *ticket.Ticket) { t.OrderID, t.Version = "o1", 1 })
	sold := with(reserved, func(t *ticket.Ticket) { t.Sold, t.Version = true, 2 })
	releasedO1 := with(free, func(t *ticket.Ticket) { t.Version, t.ReleasedOrders = 2, []string{"o1"} })

	reserve := func(o string) func(ticket.Ticket) (ticket.Ticket, error) {
		return func(t ticket.Ticket) (ticket.Ticket, error) { return t.Reserve(o, nil) }
	}
	release := func(o string) func(ticket.Ticket) (ticket.Ticket, error) {
		return func(t ticket.Ticket) (ticket.Ticket, error) { return t.Release(o), nil }
	}
	sell := func(o string) func(ticket.Ticket) (ticket.Ticket, error) {
		return func(t ticket.Ticket) (ticket.Ticket, error) { return t.Sell(o) }
	}
	// edited was edited at version 2; o1 saw it at seen.
	edited := with(free, func(t *ticket.Ticket) { t.Version, t.EditedVersion, t.PriceCents = 2, 2, 999 })
	reserveSaw := func(o string, seen int64) func(ticket.Ticket) (ticket.Ticket, error) {
		return func(t ticket.Ticket) (ticket.Ticket, error) { return t.Reserve(o, &seen) }
	}
	refusedO1 := with(edited, func(t *ticket.Ticket) { t.RefusedOrders, t.ReleasedOrders = []string{"o1"}, []string{"o1"} })

	for _, tc := range []struct {
		name   string
		from   ticket.Ticket
		change func(ticket.Ticket) (ticket.Ticket, error)
		want   ticket.Ticket // compared when err is nil
		err    error
	}{
		// order.created
		{"reserve a free ticket", free, reserve("o1"), reserved, nil},
		{"reserve again by the same order: unchanged", reserved, reserve("o1"), reserved, nil},
		{"reserve a ticket another order holds: not yet", reserved, reserve("o2"), reserved, ticket.ErrNotYet},
		{"reserve a sold ticket by another order: not yet", sold, reserve("o2"), sold, ticket.ErrNotYet},
		{"reserve a sold ticket by its buyer: unchanged", sold, reserve("o1"), sold, nil},
		{"reserve by a cancelled order: unchanged", releasedO1, reserve("o1"), releasedO1, nil},
		{"reserve after another order was cancelled", releasedO1, reserve("o2"),
			with(releasedO1, func(t *ticket.Ticket) { t.OrderID, t.Version = "o2", 3 }), nil},
		{"reserve by an order that saw the last edit", edited, reserveSaw("o1", 2),
			with(edited, func(t *ticket.Ticket) { t.OrderID, t.Version = "o1", 3 }), nil},
		{"reserve by an order that saw a version before the last edit: refused, no new version", edited, reserveSaw("o1", 0), refusedO1, nil},
		{"reserve by a refused order again: unchanged", refusedO1, reserveSaw("o1", 0), refusedO1, nil},
		{"reserve by another order after a refusal", refusedO1, reserveSaw("o2", 2),
			with(refusedO1, func(t *ticket.Ticket) { t.OrderID, t.Version = "o2", 3 }), nil},
		{"release a refused order: unchanged", refusedO1, release("o1"), refusedO1, nil},
		{"sell to a refused order: unchanged (moot)", refusedO1, sell("o1"), refusedO1, nil},

		// order.cancelled
		{"release by the holder", reserved, release("o1"), releasedO1, nil},
		{"release again: unchanged", releasedO1, release("o1"), releasedO1, nil},
		{"release by another order: recorded, no new version", reserved, release("o2"),
			with(reserved, func(t *ticket.Ticket) { t.ReleasedOrders = []string{"o2"} }), nil},
		{"release before the order reserved: recorded, no new version", free, release("o1"),
			with(free, func(t *ticket.Ticket) { t.ReleasedOrders = []string{"o1"} }), nil},
		{"release a sold ticket: recorded, stays sold", sold, release("o1"),
			with(sold, func(t *ticket.Ticket) { t.ReleasedOrders = []string{"o1"} }), nil},

		// order.completed
		{"sell to the holder", reserved, sell("o1"), sold, nil},
		{"sell again: unchanged", sold, sell("o1"), sold, nil},
		{"sell before the reservation: not yet", free, sell("o1"), free, ticket.ErrNotYet},
		{"sell to an order waiting for the holder's release: not yet", reserved, sell("o2"), reserved, ticket.ErrNotYet},
		{"sell to a cancelled order: impossible", releasedO1, sell("o1"), releasedO1, ticket.ErrImpossible},
		{"sell a ticket sold to another order: impossible", sold, sell("o2"), sold, ticket.ErrImpossible},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := with(tc.from, func(*ticket.Ticket) {})
			got, err := tc.change(tc.from)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error = %v, want %v", err, tc.err)
			}
			if err == nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if !reflect.DeepEqual(tc.from, before) {
				t.Errorf("the transition changed its receiver: %+v, was %+v", tc.from, before)
			}
		})
	}
}

// A version goes up by exactly one with every change other services must see, and only then.
func TestVersionCountsVisibleChanges(t *testing.T) {
	tk := listed()
	steps := []struct {
		apply   func(ticket.Ticket) (ticket.Ticket, error)
		version int64
	}{
		{func(t ticket.Ticket) (ticket.Ticket, error) {
			return t.Edit("u1", ticket.Details{Title: "x", PriceCents: 1})
		}, 1},
		{func(t ticket.Ticket) (ticket.Ticket, error) { return t.Reserve("o1", nil) }, 2},
		{func(t ticket.Ticket) (ticket.Ticket, error) { return t.Release("o9"), nil }, 2},
		{func(t ticket.Ticket) (ticket.Ticket, error) { return t.Release("o1"), nil }, 3},
		{func(t ticket.Ticket) (ticket.Ticket, error) { return t.Reserve("o1", nil) }, 3},
		{func(t ticket.Ticket) (ticket.Ticket, error) { return t.Reserve("o2", nil) }, 4},
		{func(t ticket.Ticket) (ticket.Ticket, error) { return t.Sell("o2") }, 5},
		{func(t ticket.Ticket) (ticket.Ticket, error) { return t.Release("o2"), nil }, 5},
	}
	for i, s := range steps {
		next, err := s.apply(tk)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if next.Version != s.version {
			t.Fatalf("step %d: version %d, want %d", i, next.Version, s.version)
		}
		tk = next
	}
	if !tk.Sold || tk.OrderID != "o2" {
		t.Errorf("final ticket %+v, want sold to o2", tk)
	}
}

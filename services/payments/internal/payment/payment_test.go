package payment_test

import (
	"strings"
	"testing"
	"time"

	"ticketing/common/errs"
	"ticketing/services/payments/internal/payment"
)

func TestCheckPayable(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	base := payment.Order{ID: "o1", UserID: "u1", PriceCents: 2000, Status: payment.OrderCreated, ExpiresAt: now.Add(time.Minute)}
	with := func(f func(*payment.Order)) payment.Order { o := base; f(&o); return o }
	cases := []struct {
		name  string
		order payment.Order
		user  string
		want  error
	}{
		{"payable", base, "u1", nil},
		{"awaiting payment", with(func(o *payment.Order) { o.Status = payment.OrderAwaitingPayment }), "u1", nil},
		{"another user's", base, "u2", payment.ErrNotOwner},
		{"cancelled", with(func(o *payment.Order) { o.Status = payment.OrderCancelled }), "u1", payment.ErrOrderCancelled},
		{"complete", with(func(o *payment.Order) { o.Status = payment.OrderComplete }), "u1", payment.ErrOrderPaid},
		{"expired", with(func(o *payment.Order) { o.ExpiresAt = now.Add(-time.Second) }), "u1", payment.ErrOrderExpired},
		{"expires now", with(func(o *payment.Order) { o.ExpiresAt = now }), "u1", payment.ErrOrderExpired},
		{"owner checked first", with(func(o *payment.Order) { o.Status = payment.OrderCancelled }), "u2", payment.ErrNotOwner},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := payment.CheckPayable(tc.order, tc.user, now); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestParseRequest(t *testing.T) {
	cases := []struct {
		name     string
		order    string
		pm, tok  *string
		want     payment.Method
		badField string
	}{
		{"method", "o1", ptr("pm_card_visa"), nil, payment.Method{PaymentMethod: "pm_card_visa"}, ""},
		{"token", "o1", nil, ptr("tok_visa"), payment.Method{Token: "tok_visa"}, ""},
		{"neither", "o1", nil, nil, payment.Method{}, ""},
		{"both", "o1", ptr("pm_card_visa"), ptr("tok_visa"), payment.Method{}, "token"},
		{"no order", "", ptr("pm_card_visa"), nil, payment.Method{}, "orderId"},
		{"empty method", "o1", ptr(""), nil, payment.Method{}, "paymentMethodId"},
		{"odd method", "o1", ptr("pm card"), nil, payment.Method{}, "paymentMethodId"},
		{"empty token", "o1", nil, ptr(""), payment.Method{}, "token"},
		{"long order id", strings.Repeat("x", 2000), nil, nil, payment.Method{}, "orderId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, m, err := payment.ParseRequest(tc.order, tc.pm, tc.tok)
			if tc.badField == "" {
				if err != nil || m != tc.want {
					t.Fatalf("got %+v, %v", m, err)
				}
				return
			}
			var e *errs.Error
			if err == nil || !errs.Is(err, errs.Invalid) {
				t.Fatalf("got %v, want a 400 about %s", err, tc.badField)
			}
			e = err.(*errs.Error)
			if e.Fields[0].Field != tc.badField {
				t.Fatalf("field %q, want %q", e.Fields[0].Field, tc.badField)
			}
		})
	}
}

func TestKeysAndTransitions(t *testing.T) {
	if k := payment.ChargeKey("o1", 2); k != "pay-o1-2" {
		t.Fatalf("charge key %q", k)
	}
	if k := payment.RefundKey("o1"); k != "refund-o1" {
		t.Fatalf("refund key %q", k)
	}
	for s, want := range map[payment.Status]bool{
		payment.StatusProcessing: true, payment.StatusRequiresPaymentMethod: true, payment.StatusFailed: true,
		payment.StatusSucceeded: false, payment.StatusRefunded: false,
	} {
		if payment.CanSucceed(s) != want {
			t.Errorf("CanSucceed(%s) = %v", s, !want)
		}
	}
}

func TestRecentID(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	hexAt := func(ts time.Time) string {
		return strings.ToLower(fmt8(uint32(ts.Unix()))) + "0000000000000000"
	}
	cases := map[string]bool{
		hexAt(now):                        true,
		hexAt(now.Add(-30 * time.Second)): true,
		hexAt(now.Add(-2 * time.Minute)):  false,
		hexAt(now.Add(2 * time.Minute)):   false,
		"not-an-id":                       false,
		"zz" + hexAt(now)[2:]:             false,
		hexAt(now) + "00":                 false,
	}
	for id, want := range cases {
		if got := payment.RecentID(id, now, time.Minute); got != want {
			t.Errorf("RecentID(%q) = %v, want %v", id, got, want)
		}
	}
}

func fmt8(v uint32) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b)
}

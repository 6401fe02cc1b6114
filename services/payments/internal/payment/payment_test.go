package payment_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"ticketing/common/events"
	"ticketing/services/payments/internal/payment"
)

func TestCheckPayable(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	base := payment.Order{ID: "o1", UserID: "u1", PriceCents: 2000, Status: events.OrderStatusCreated, ExpiresAt: now.Add(time.Minute)}
	with := func(f func(*payment.Order)) payment.Order { o := base; f(&o); return o }
	cases := []struct {
		name  string
		order payment.Order
		user  string
		want  error
	}{
		{"payable", base, "u1", nil},
		{"awaiting payment", with(func(o *payment.Order) { o.Status = events.OrderStatusAwaitingPayment }), "u1", nil},
		{"another user's", base, "u2", payment.ErrNotOwner},
		{"cancelled", with(func(o *payment.Order) { o.Status = events.OrderStatusCancelled }), "u1", payment.ErrOrderCancelled},
		{"complete", with(func(o *payment.Order) { o.Status = events.OrderStatusComplete }), "u1", payment.ErrOrderPaid},
		{"expired", with(func(o *payment.Order) { o.ExpiresAt = now.Add(-time.Second) }), "u1", payment.ErrOrderExpired},
		{"expires now", with(func(o *payment.Order) { o.ExpiresAt = now }), "u1", payment.ErrOrderExpired},
		{"owner checked first", with(func(o *payment.Order) { o.Status = events.OrderStatusCancelled }), "u2", payment.ErrNotOwner},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := payment.CheckPayable(tc.order, tc.user, now); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
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
}

func TestNextCoversEveryStatusAndEvent(t *testing.T) {
	const no = payment.Status("-") // ErrNotApplicable
	table := map[payment.Status]map[payment.Event]payment.Status{
		payment.StatusProcessing: {payment.Retry: no, payment.AwaitClient: payment.StatusRequiresPaymentMethod,
			payment.Succeed: payment.StatusSucceeded, payment.Fail: payment.StatusFailed, payment.Refund: no},
		payment.StatusRequiresPaymentMethod: {payment.Retry: no, payment.AwaitClient: no,
			payment.Succeed: payment.StatusSucceeded, payment.Fail: no, payment.Refund: no},
		payment.StatusSucceeded: {payment.Retry: no, payment.AwaitClient: no, payment.Succeed: no, payment.Fail: no,
			payment.Refund: payment.StatusRefunded},
		payment.StatusFailed: {payment.Retry: payment.StatusProcessing, payment.AwaitClient: no,
			payment.Succeed: payment.StatusSucceeded, payment.Fail: no, payment.Refund: no},
		payment.StatusRefunded: {payment.Retry: no, payment.AwaitClient: no, payment.Succeed: no, payment.Fail: no, payment.Refund: no},
	}
	if len(table) != len(payment.Statuses) {
		t.Fatalf("the table has %d statuses, the domain %d", len(table), len(payment.Statuses))
	}
	for _, s := range payment.Statuses {
		for _, e := range payment.Events {
			want, ok := table[s][e]
			if !ok {
				t.Fatalf("the table has no entry for %s on %s", s, e)
			}
			got, err := payment.Next(s, e)
			if want == no {
				if !errors.Is(err, payment.ErrNotApplicable) || got != s {
					t.Errorf("Next(%s, %s) = %s, %v; want ErrNotApplicable", s, e, got, err)
				}
				continue
			}
			if err != nil || got != want {
				t.Errorf("Next(%s, %s) = %s, %v; want %s", s, e, got, err, want)
			}
		}
	}
}

func TestTransitionsOfAPayment(t *testing.T) {
	p := payment.Payment{ID: "p1", OrderID: "o1", Status: payment.StatusProcessing, Attempt: 1}
	failed, err := p.Fail(1, "pi_1", "declined")
	if err != nil || failed.Status != payment.StatusFailed || failed.StripeID != "pi_1" || failed.Failure != "declined" {
		t.Fatalf("fail = %+v, %v", failed, err)
	}
	if id, e := p.Event(); id != "payment-started-p1-1" || e != (events.PaymentStarted{ID: "p1", OrderID: "o1", Attempt: 1}) {
		t.Errorf("a started payment announces %s %#v", id, e)
	}
	if id, e := failed.Event(); id != "payment-failed-p1-1" || e != (events.PaymentFailed{ID: "p1", OrderID: "o1", Attempt: 1, Reason: "declined"}) {
		t.Errorf("a failed payment announces %s %#v", id, e)
	}
	if _, err := failed.Fail(1, "pi_1", "again"); !payment.Refused(err) {
		t.Fatalf("a second fail: %v, want refused", err)
	}
	second, err := failed.Retry(1)
	if err != nil || second.Status != payment.StatusProcessing || second.Attempt != 2 || second.StripeID != "" || second.Failure != "" {
		t.Fatalf("retry = %+v, %v", second, err)
	}
	if _, err := second.Succeed(1, "pi_1"); !errors.Is(err, payment.ErrOtherAttempt) {
		t.Fatalf("success of the stale attempt: %v, want ErrOtherAttempt", err)
	}
	if _, err := second.Retry(1); !errors.Is(err, payment.ErrOtherAttempt) {
		t.Fatalf("a second retry of attempt 1: %v, want ErrOtherAttempt", err)
	}
	done, err := second.Succeed(2, "pi_2")
	if err != nil || done.Status != payment.StatusSucceeded || done.StripeID != "pi_2" {
		t.Fatalf("succeed = %+v, %v", done, err)
	}
	if id, e := done.Event(); id != "payment-created-p1" || e != (events.PaymentCreated{ID: "p1", OrderID: "o1", StripeID: "pi_2"}) {
		t.Errorf("succeeded announces %s %#v", id, e)
	}
	if !done.Settled("pi_2") || done.Settled("pi_1") {
		t.Error("Settled: only by the intent that charged")
	}
	refunded, err := done.Refund()
	if err != nil || refunded.Status != payment.StatusRefunded {
		t.Fatalf("refund = %+v, %v", refunded, err)
	}
	if id, e := refunded.Event(); id != "payment-refunded-p1" || e.Subject() != events.SubjectPaymentRefunded {
		t.Errorf("refunded announces %s %#v", id, e)
	}
	if _, err := refunded.Refund(); !payment.Refused(err) {
		t.Errorf("a second refund: %v, want refused", err)
	}
	if id, e := second.Event(); id != "payment-started-p1-2" || e != (events.PaymentStarted{ID: "p1", OrderID: "o1", Attempt: 2}) {
		t.Errorf("the second attempt announces %s %#v", id, e)
	}
	waiting, err := second.AwaitClient(2, "pi_w")
	if err != nil || waiting.Status != payment.StatusRequiresPaymentMethod || waiting.StripeID != "pi_w" {
		t.Fatalf("await client = %+v, %v", waiting, err)
	}
	if _, e := waiting.Event(); e != nil {
		t.Errorf("a payment waiting for the browser announces %#v", e)
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

// Pending keeps the processor's id of an attempt that is still processing, and nothing else.
func TestPendingKeepsTheIntentOfAProcessingAttempt(t *testing.T) {
	p := payment.Payment{ID: "p1", OrderID: "o1", Status: payment.StatusProcessing, Attempt: 2}
	got, err := p.Pending(2, "pi_1")
	if err != nil || got.StripeID != "pi_1" || got.Status != payment.StatusProcessing || got.Attempt != 2 {
		t.Fatalf("Pending = %+v, %v; want processing with pi_1", got, err)
	}
	if _, err := p.Pending(1, "pi_0"); !errors.Is(err, payment.ErrOtherAttempt) {
		t.Errorf("Pending of another attempt: %v, want ErrOtherAttempt", err)
	}
	done := payment.Payment{Status: payment.StatusSucceeded, Attempt: 2, StripeID: "pi_1"}
	if _, err := done.Pending(2, "pi_2"); !errors.Is(err, payment.ErrNotApplicable) {
		t.Errorf("Pending of a succeeded payment: %v, want ErrNotApplicable", err)
	}
}

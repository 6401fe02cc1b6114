package payments_test

import (
	"context"
	"testing"
	"time"

	"ticketing/common/testkit"
	"ticketing/services/payments/internal/payment"
)

func paymentsCounted(t *testing.T) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, outcome := range []string{"declined", "succeeded", "refunded", "failed"} {
		out[outcome] = testkit.Counter(t, "ticketing_payments_total", map[string]string{"outcome": outcome})
	}
	return out
}

// ticketing_payments_total counts each attempt once by how it ended; retries count nothing.
func TestPaymentsAreCountedByOutcome(t *testing.T) {
	h := start(t, nil)
	before := paymentsCounted(t)

	declined := h.order("dora", 1000, 15*time.Minute)
	if r := h.pay(declined.Token, map[string]any{"orderId": declined.ID, "token": "tok_chargeDeclined"}); r.Status != 402 {
		t.Fatalf("declined card: %d %s", r.Status, r.Body)
	}
	paid := h.order("dora", 1000, 15*time.Minute)
	for range 2 { // the retry returns the same payment
		if r := h.pay(paid.Token, map[string]any{"orderId": paid.ID, "token": "tok_visa"}); r.Status != 201 {
			t.Fatalf("pay: %d %s", r.Status, r.Body)
		}
	}
	h.cancel(paid, 1)
	eventually(t, "payment refunded", func() bool {
		p, err := h.store.PaymentByOrder(context.Background(), paid.ID)
		return err == nil && p.Status == payment.StatusRefunded
	})

	after := paymentsCounted(t)
	for outcome, want := range map[string]float64{"declined": 1, "succeeded": 1, "refunded": 1, "failed": 0} {
		if got := after[outcome] - before[outcome]; got != want {
			t.Errorf("%s moved by %v, want %v", outcome, got, want)
		}
	}
}

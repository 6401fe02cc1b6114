package provider_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"ticketing/services/payments/internal/provider"
)

// visaCharged is an offline provider that has charged order o1 with a Visa card under key
// pay-o1-1, and the intent of that charge.
func visaCharged(t *testing.T) (*provider.Offline, provider.Intent) {
	t.Helper()
	o := provider.NewOffline(nil)
	in, err := o.Charge(context.Background(), charge("pm_card_visa", "pay-o1-1"))
	if err != nil {
		t.Fatal(err)
	}
	return o, in
}

func charge(method, key string) provider.ChargeRequest {
	r := provider.ChargeRequest{OrderID: "o1", Attempt: 1, AmountCents: 2000, Currency: "usd", IdempotencyKey: key}
	if len(method) > 4 && method[:4] == "tok_" {
		r.Token = method
	} else {
		r.PaymentMethod = method
	}
	return r
}

// The offline provider follows Stripe's test cards.
func TestOfflineTestCards(t *testing.T) {
	cases := []struct {
		method  string
		ok      bool
		message string
	}{
		{"tok_visa", true, ""},
		{"pm_card_visa", true, ""},
		{"pm_card_mastercard", true, ""},
		{"tok_chargeDeclined", false, "Your card was declined."},
		{"pm_card_chargeDeclined", false, "Your card was declined."},
		{"pm_card_chargeDeclinedInsufficientFunds", false, "Your card has insufficient funds."},
		{"tok_chargeDeclinedExpiredCard", false, "Your card has expired."},
	}
	for _, tc := range cases {
		t.Run(tc.method, func(t *testing.T) {
			o := provider.NewOffline(nil)
			in, err := o.Charge(context.Background(), charge(tc.method, "k"))
			if tc.ok {
				if err != nil || in.Status != provider.StatusSucceeded || in.ID == "" {
					t.Fatalf("got %+v, %v", in, err)
				}
				if o.Charges() != 1 {
					t.Fatalf("charges %d", o.Charges())
				}
				return
			}
			var d *provider.DeclinedError
			if !errors.As(err, &d) || d.Message != tc.message || d.IntentID == "" {
				t.Fatalf("got %+v, %v", in, err)
			}
			if o.Charges() != 0 || o.Declines() != 1 {
				t.Fatalf("charges %d declines %d", o.Charges(), o.Declines())
			}
		})
	}
	t.Run("unknown method", func(t *testing.T) {
		_, err := provider.NewOffline(nil).Charge(context.Background(), charge("pm_nope", "k"))
		var inv *provider.InvalidError
		if !errors.As(err, &inv) || inv.Param != "payment_method" {
			t.Fatalf("got %v", err)
		}
	})
}

// A key charges once: the same parameters replay the first result, other parameters are an
// idempotency error, and a call while the first runs too.
func TestOfflineIdempotency(t *testing.T) {
	ctx := context.Background()
	o, first := visaCharged(t)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			again, err := o.Charge(ctx, charge("pm_card_visa", "pay-o1-1"))
			if err != nil || again.ID != first.ID {
				t.Errorf("replay: %+v, %v", again, err)
			}
		}()
	}
	wg.Wait()
	if _, err := o.Charge(ctx, charge("tok_visa", "pay-o1-1")); !errors.Is(err, provider.ErrIdempotency) {
		t.Fatalf("other parameters, same key: %v", err)
	}
	if o.Charges() != 1 {
		t.Fatalf("charges %d, want 1", o.Charges())
	}

	// A declined key replays its decline; a new key charges.
	_, err := o.Charge(ctx, charge("pm_card_chargeDeclined", "pay-o2-1"))
	_, err2 := o.Charge(ctx, charge("pm_card_chargeDeclined", "pay-o2-1"))
	var d1, d2 *provider.DeclinedError
	if !errors.As(err, &d1) || !errors.As(err2, &d2) || d1.IntentID != d2.IntentID {
		t.Fatalf("declines: %v %v", err, err2)
	}
	if o.Declines() != 1 {
		t.Fatalf("declines %d", o.Declines())
	}

	// In flight: a second call with the key is refused, as Stripe answers 409.
	hold := make(chan struct{})
	entered := make(chan struct{})
	o.BeforeCharge(func(provider.ChargeRequest) { close(entered); <-hold })
	done := make(chan error, 1)
	go func() { _, err := o.Charge(ctx, charge("pm_card_visa", "pay-o3-1")); done <- err }()
	<-entered
	if _, err := o.Charge(ctx, charge("pm_card_visa", "pay-o3-1")); !errors.Is(err, provider.ErrIdempotency) {
		t.Fatalf("key in flight: %v", err)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if o.Charges() != 2 {
		t.Fatalf("charges %d, want 2", o.Charges())
	}
}

// Refunds: once per intent, replayed by key, refused for an unknown or unpaid intent.
func TestOfflineRefund(t *testing.T) {
	ctx := context.Background()
	o, in := visaCharged(t)
	for range 3 {
		if _, err := o.Refund(ctx, provider.RefundRequest{OrderID: "o1", PaymentIntentID: in.ID, IdempotencyKey: "refund-o1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.Refund(ctx, provider.RefundRequest{OrderID: "o1", PaymentIntentID: in.ID, IdempotencyKey: "other"}); err != nil {
		t.Fatalf("already refunded under another key: %v", err)
	}
	if o.Refunds() != 1 {
		t.Fatalf("refunds %d", o.Refunds())
	}
	if _, _, ok := o.IntentStatus(in.ID); !ok {
		t.Fatal("intent unknown")
	}
	if _, err := o.Refund(ctx, provider.RefundRequest{PaymentIntentID: "pi_nope", IdempotencyKey: "x"}); err == nil {
		t.Fatal("refund of an unknown intent")
	}
	pending, err := o.CreateIntent(ctx, provider.IntentRequest{OrderID: "o2", Attempt: 1, AmountCents: 100, Currency: "usd", IdempotencyKey: "pay-o2-1"})
	if err != nil || pending.ClientSecret == "" || pending.Status != provider.StatusRequiresPaymentMethod {
		t.Fatalf("create intent: %+v %v", pending, err)
	}
	if _, err := o.Refund(ctx, provider.RefundRequest{PaymentIntentID: pending.ID, IdempotencyKey: "y"}); err == nil {
		t.Fatal("refund of an unpaid intent")
	}
	if _, err := o.Confirm(pending.ID, "pm_card_visa"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Refund(ctx, provider.RefundRequest{PaymentIntentID: pending.ID, IdempotencyKey: "z"}); err != nil {
		t.Fatalf("refund after browser confirm: %v", err)
	}
	if o.Charges() != 2 || o.Refunds() != 2 {
		t.Fatalf("charges %d refunds %d", o.Charges(), o.Refunds())
	}
}

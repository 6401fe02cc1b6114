package app_test

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/testkit"
	"ticketing/services/payments/internal/app"
	"ticketing/services/payments/internal/payment"
	"ticketing/services/payments/internal/provider"
	"ticketing/services/payments/internal/store"
)

// More payments than one round looks at, which the processor cannot tell of (their lookup
// fails every time), do not keep a settleable payment behind them from its turn: each round
// touches what it did not settle, so the next round looks further.
func TestReconcileStuckPaymentsDoNotStarveOthers(t *testing.T) {
	ctx := t.Context()
	st := store.New(testkit.Mongo(t), nil)
	if err := st.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	offline := provider.NewOffline(nil)
	const limit, stuck = 2, 5
	svc := &app.Service{Store: st, Provider: offline, Currency: "usd", Log: slog.New(slog.DiscardHandler), ReconcileBatch: limit}
	add := func(orderID, intentID string, age time.Duration) {
		t.Helper()
		p, _, err := st.StartPayment(ctx, payment.Payment{ID: store.NewPaymentID(), OrderID: orderID, UserID: "u1",
			Status: payment.StatusProcessing, Attempt: 1, AmountCents: 2000, Currency: "usd"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Payments().UpdateOne(ctx, bson.M{"_id": p.ID}, bson.M{"$set": bson.M{
			"status": string(payment.StatusRequiresPaymentMethod), "stripeId": intentID, "updatedAt": time.Now().Add(-age).UTC()}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range stuck { // older than the settleable one: listed first
		add(fmt.Sprintf("stuck%d", i), fmt.Sprintf("pi_gone%d", i), time.Hour+time.Duration(i)*time.Minute)
	}
	in, err := offline.CreateIntent(ctx, provider.IntentRequest{OrderID: "good", Attempt: 1, AmountCents: 2000, Currency: "usd", IdempotencyKey: "pay-good-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := offline.Confirm(in.ID, "pm_card_visa"); err != nil {
		t.Fatal(err)
	}
	add("good", in.ID, time.Minute)

	rounds := 0
	for ; rounds < 10; rounds++ {
		p, err := st.PaymentByOrder(ctx, "good")
		if err != nil {
			t.Fatal(err)
		}
		if p.Status == payment.StatusSucceeded {
			break
		}
		if err := svc.Reconcile(ctx, 0); err != nil && !errors.Is(err, provider.ErrUnknownIntent) {
			t.Fatal(err)
		}
	}
	if want := (stuck + 1 + limit - 1) / limit; rounds > want {
		t.Errorf("the settleable payment succeeded after %d rounds, want at most %d", rounds, want)
	}
}

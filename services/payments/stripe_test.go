package payments_test

import (
	"strings"
	"testing"
	"time"

	"ticketing/services/payments/internal/stripemock"
)

// With PAYMENT_PROVIDER=stripe and STRIPE_API_BASE pointing at stripe-mock, the service sends
// its PaymentIntent to the configured API: the browser flow answers stripe-mock's intent and
// client secret. (stripe-mock never confirms an intent, so charges are tested offline.)
func TestStripeProviderWiring(t *testing.T) {
	base := stripemock.Start(t)
	h := start(t, func(env map[string]string) {
		env["PAYMENT_PROVIDER"] = "stripe"
		env["STRIPE_SECRET_KEY"] = "sk_test_123"
		env["STRIPE_API_BASE"] = base
	})
	o := h.order("heidi", 2000, 15*time.Minute)
	r := h.pay(o.Token, map[string]any{"orderId": o.ID})
	if r.Status != 201 || r.Field("status") != "requires_payment_method" || !strings.HasPrefix(r.Field("stripeId"), "pi_") ||
		!strings.Contains(r.Field("clientSecret"), "_secret_") {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
}

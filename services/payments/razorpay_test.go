package payments_test

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"ticketing/common/apiclient"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/payments/internal/payment"
	"ticketing/services/payments/internal/provider"
	"ticketing/services/payments/razorpaymock"
)

const (
	rzpKeyID         = "rzp_test_platform"
	rzpKeySecret     = "rzp_key_secret_platform"
	rzpWebhookSecret = "rzp_webhook_secret_platform"
)

// startRazorpay is the payments service with PAYMENT_PROVIDER=razorpay against a fake
// Razorpay; the fake's webhooks go to the service.
func startRazorpay(t *testing.T, extra ...map[string]string) (*harness, *razorpaymock.Server) {
	t.Helper()
	fake := razorpaymock.Start(t, rzpKeyID, rzpKeySecret, rzpWebhookSecret)
	h := start(t, func(env map[string]string) {
		env["PAYMENT_PROVIDER"] = "razorpay"
		env["RAZORPAY_KEY_ID"] = rzpKeyID
		env["RAZORPAY_KEY_SECRET"] = rzpKeySecret
		env["RAZORPAY_WEBHOOK_SECRET"] = rzpWebhookSecret
		env["RAZORPAY_API_BASE"] = fake.URL()
		env["CURRENCY"] = "inr"
		delete(env, "STRIPE_WEBHOOK_SECRET")
		for _, e := range extra {
			maps.Copy(env, e)
		}
	})
	fake.WebhookURL = h.url + "/api/payments/razorpay/webhook"
	return h, fake
}

// verify posts what Checkout handed the browser to the verify route.
func (h *harness) verify(token string, c apiclient.RazorpayCheckout) testkit.Reply {
	h.t.Helper()
	return h.api.Call("POST", "/api/payments/razorpay/verify", token, c)
}

// checkout asks for the Razorpay order of o's payment, as the storefront does before opening
// Checkout.
func checkout(t *testing.T, h *harness, o order) testkit.Reply {
	t.Helper()
	r := h.pay(o.Token, map[string]any{"orderId": o.ID}).Want(201)
	var p apiclient.Payment
	r.Strict(&p)
	if p.Status != "requires_payment_method" || p.RazorpayOrderID == "" || p.KeyID != rzpKeyID ||
		p.Currency != "INR" || p.Amount != o.PriceCents {
		t.Fatalf("pay with Razorpay: %d %s", r.Status, r.Body)
	}
	return r
}

// reconciledCheckout is a Razorpay payments service whose reconciler looks at a payment
// 300ms after it was made, and the Razorpay order of a payment opened in Checkout for an
// order of user's.
func reconciledCheckout(t *testing.T, user string) (*harness, *razorpaymock.Server, order, apiclient.Payment) {
	t.Helper()
	h, fake := startRazorpay(t, map[string]string{"PAYMENT_RECONCILE_AFTER": "300ms", "PAYMENT_RECONCILE_INTERVAL": "100ms"})
	o := h.order(user, 50000, 15*time.Minute)
	var p apiclient.Payment
	checkout(t, h, o).Strict(&p)
	return h, fake, o, p
}

// failedFor is the payment.failed events published for order orderID.
func failedFor(h *harness, orderID string) []events.PaymentFailed {
	var out []events.PaymentFailed
	for _, e := range messages[events.PaymentFailed](h) {
		if e.OrderID == orderID {
			out = append(out, e)
		}
	}
	return out
}

func createdFor(h *harness, orderID string) int {
	n := 0
	for _, e := range messages[events.PaymentCreated](h) {
		if e.OrderID == orderID {
			n++
		}
	}
	return n
}

func TestRazorpayConfig(t *testing.T) {
	h, _ := startRazorpay(t)
	r := h.do("GET", "/api/payments/config", "", nil, nil).Want(200)
	var cfg apiclient.PaymentConfig
	r.Strict(&cfg)
	if cfg.Provider != apiclient.ProviderRazorpay || cfg.KeyID != rzpKeyID || cfg.PublishableKey != "" {
		t.Fatalf("config: %d %s", r.Status, r.Body)
	}
	// Card charges are Stripe's: with Razorpay the customer pays in Checkout.
	o := h.order("rzp-card", 2000, time.Minute)
	if r := h.pay(o.Token, map[string]any{"orderId": o.ID, "token": "tok_visa"}); r.Status != 400 {
		t.Fatalf("a card token with Razorpay: %d %s", r.Status, r.Body)
	}
}

// The saga with Razorpay: a payment that starts one second before the deadline and is made
// after it completes (no refund); one made after the extended deadline is refunded through
// Razorpay's refund API; a failed one announces payment.failed, once per webhook.
func TestRazorpaySaga(t *testing.T) {
	h, fake := startRazorpay(t)
	const window, paymentGrace = 2 * time.Second, 4 * time.Second
	startPayment := func(t *testing.T, user string) (order, testkit.Reply, time.Time) {
		t.Helper()
		return startBeforeDeadline(t, h, user, window, paymentGrace, func(o order) testkit.Reply { return checkout(t, h, o) })
	}

	t.Run("paid after the original deadline: complete, no refund", func(t *testing.T) {
		o, r, deadline := startPayment(t, "rzp-ok")
		testkit.Eventually(t, 2*window, "past the original deadline", func() bool { return time.Now().After(deadline) })
		c := fake.Pay(r.Field("razorpayOrderId"), true)
		v := h.verify(o.Token, c)
		if v.Status != 201 || v.Field("status") != "succeeded" || v.Field("stripeId") != c.PaymentID {
			t.Fatalf("verify: %d %s", v.Status, v.Body)
		}
		// The webhook of the same capture changes nothing more.
		if code, body := fake.Send(fake.Event("payment.captured", c.PaymentID, time.Now())); code != 200 {
			t.Fatalf("webhook: %d %s", code, body)
		}
		h.settled(o.ID)
		if n := createdFor(h, o.ID); n != 1 || fake.Refunds() != 0 {
			t.Fatalf("%d payment.created, %d refunds; want 1 and none", n, fake.Refunds())
		}
	})

	t.Run("paid after the extended deadline: refunded through Razorpay", func(t *testing.T) {
		o, r, _ := startPayment(t, "rzp-late")
		h.cancel(o, 2) // the orders service expired it at the extended deadline
		h.waitOrder(o.ID, 2)
		c := fake.Pay(r.Field("razorpayOrderId"), true)
		if code, body := fake.Send(fake.Event("order.paid", c.PaymentID, time.Now())); code != 200 {
			t.Fatalf("webhook: %d %s", code, body)
		}
		h.waitStatus(t, o.ID, payment.StatusRefunded, "payment refunded")
		if n := fake.Refunds(); n != 1 {
			t.Fatalf("%d refunds at Razorpay, want 1", n)
		}
		if v := h.verify(o.Token, c); v.Status != 409 {
			t.Fatalf("verify of a refunded payment: %d %s", v.Status, v.Body)
		}
	})

	t.Run("failed: payment.failed", func(t *testing.T) {
		o, r, _ := startPayment(t, "rzp-fail")
		c := fake.Pay(r.Field("razorpayOrderId"), false)
		wh := fake.Event("payment.failed", c.PaymentID, time.Now())
		for range 2 { // delivered twice: handled once
			if code, body := fake.Send(wh); code != 200 {
				t.Fatalf("webhook: %d %s", code, body)
			}
		}
		h.settled(o.ID)
		got := failedFor(h, o.ID)
		if len(got) != 1 || got[0].Attempt != 1 || got[0].Reason == "" {
			t.Fatalf("payment.failed: %+v, want one for attempt 1", got)
		}
	})
}

// Forged, stale (replayed later) and malformed signatures are refused; the same webhook
// twice is handled once.
func TestRazorpaySignatures(t *testing.T) {
	h, fake := startRazorpay(t)
	o := h.order("rzp-sig", 2000, time.Minute)
	r := checkout(t, h, o)
	c := fake.Pay(r.Field("razorpayOrderId"), true)

	forged := c
	forged.Signature = provider.RazorpayCheckoutSignature(c.OrderID, c.PaymentID, "not the secret")
	if v := h.verify(o.Token, forged); v.Status != 400 {
		t.Fatalf("forged checkout signature: %d %s", v.Status, v.Body)
	}
	other := h.order("rzp-sig-other", 2000, time.Minute)
	if v := h.verify(other.Token, c); v.Status != 403 {
		t.Fatalf("another user's payment: %d %s", v.Status, v.Body)
	}

	wh := fake.Event("payment.captured", c.PaymentID, time.Now())
	bad := wh
	bad.Signature = provider.RazorpayWebhookSignature(wh.Body, "not the secret")
	stale := fake.Event("payment.captured", c.PaymentID, time.Now().Add(-10*time.Minute))
	tampered := wh
	tampered.Body = append([]byte(nil), wh.Body...)
	tampered.Body[len(tampered.Body)-2] = ' '
	for name, w := range map[string]razorpaymock.Webhook{"forged": bad, "stale": stale, "tampered": tampered} {
		if code, body := fake.Send(w); code != 400 {
			t.Errorf("%s webhook: %d %s", name, code, body)
		}
	}
	if p, _ := h.store.PaymentByOrder(context.Background(), o.ID); p.Status == payment.StatusSucceeded {
		t.Fatal("a refused webhook moved the payment")
	}
	for range 2 {
		if code, body := fake.Send(wh); code != 200 {
			t.Fatalf("webhook: %d %s", code, body)
		}
	}
	h.settled(o.ID)
	if n := createdFor(h, o.ID); n != 1 {
		t.Fatalf("%d payment.created, want 1", n)
	}
}

// Twenty concurrent payment requests for one order, spread over two replicas (each with its
// own Razorpay client), create one Razorpay order; Checkout captures once; twenty concurrent
// verifications record one payment.
func TestRazorpayConcurrentAttempts(t *testing.T) {
	h, fake := startRazorpay(t)
	replicas := []*harness{h, h.replica()}
	o := h.order("rzp-rush", 2000, time.Minute)
	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := replicas[i%2].pay(o.Token, map[string]any{"orderId": o.ID})
			if r.Status == 201 {
				ids[i] = r.Field("razorpayOrderId")
			} else if r.Status != 409 {
				t.Errorf("pay: %d %s", r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	var rzpOrder string
	for _, id := range ids {
		if id != "" && rzpOrder != "" && id != rzpOrder {
			t.Fatalf("two Razorpay orders answered: %s and %s", rzpOrder, id)
		}
		if id != "" {
			rzpOrder = id
		}
	}
	if got := fake.OrdersCreated(); got != 1 || rzpOrder == "" {
		t.Fatalf("%d Razorpay orders created (answered %q), want 1", got, rzpOrder)
	}
	c := fake.Pay(rzpOrder, true)
	for i := range n {
		wg.Go(func() {
			if v := replicas[i%2].verify(o.Token, c); v.Status != 201 {
				t.Errorf("verify: %d %s", v.Status, v.Body)
			}
		})
	}
	wg.Wait()
	h.settled(o.ID)
	if got, created := fake.Captures(), createdFor(h, o.ID); got != 1 || created != 1 {
		t.Fatalf("%d captures, %d payment.created; want 1 and 1", got, created)
	}
}

// An outage of Razorpay answers 503 and gives up the attempt's claim: the next request
// creates the Razorpay order at once, without waiting for the claim to lapse.
func TestRazorpayUnavailable(t *testing.T) {
	h, fake := startRazorpay(t)
	o := h.order("rzp-outage", 2000, time.Minute)
	fake.FailOrders(1)
	if r := h.pay(o.Token, map[string]any{"orderId": o.ID}); r.Status != 503 {
		t.Fatalf("pay during the outage: %d %s", r.Status, r.Body)
	}
	start := time.Now()
	checkout(t, h, o)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the retry waited %v: the claim was not given up", d)
	}
	if n := fake.OrdersCreated(); n != 1 {
		t.Fatalf("%d Razorpay orders, want 1", n)
	}
}

// With Razorpay, a payment made in Checkout whose verify call and webhooks are all lost is
// settled by the reconciler from the Razorpay order's payments: the captured one succeeds
// (payment.created once); a late webhook changes nothing.
func TestRazorpayReconciledWithoutWebhook(t *testing.T) {
	h, fake, o, p := reconciledCheckout(t, "rita")
	fake.Pay(p.RazorpayOrderID, false) // a declined card first, then a good one
	c := fake.Pay(p.RazorpayOrderID, true)
	eventually(t, "the reconciler settles the payment", func() bool {
		got, err := h.store.PaymentByOrder(t.Context(), o.ID)
		return err == nil && got.Status == payment.StatusSucceeded && got.StripeID == c.PaymentID
	})
	if status, body := fake.Send(fake.Event("payment.captured", c.PaymentID, time.Now())); status != 200 {
		t.Fatalf("late webhook: %d %s", status, body)
	}
	h.settled(o.ID)
	if got := messages[events.PaymentCreated](h); len(got) != 1 || got[0].OrderID != o.ID || got[0].StripeID != c.PaymentID {
		t.Errorf("payment.created %+v, want one for %s", got, o.ID)
	}
	if n := fake.Refunds(); n != 0 {
		t.Errorf("%d refunds", n)
	}
}

// With Razorpay, declines in Checkout whose webhooks are late are recorded by the reconciler
// with the latest one's message (payment.failed once); the late payment.failed webhook, which
// names the pay_ id rather than the Razorpay order the payment keeps, changes nothing.
func TestRazorpayReconciledDeclineThenLateWebhook(t *testing.T) {
	h, fake, o, p := reconciledCheckout(t, "reno")
	fake.Decline(p.RazorpayOrderID, "Older decline.")
	latest := fake.Decline(p.RazorpayOrderID, "Latest decline.")
	eventually(t, "the reconciler records the decline", func() bool {
		got, err := h.store.PaymentByOrder(t.Context(), o.ID)
		return err == nil && got.Failure != ""
	})
	if got, _ := h.store.PaymentByOrder(t.Context(), o.ID); got.Failure != "Latest decline." {
		t.Errorf("recorded decline %q, want the latest", got.Failure)
	}
	if status, body := fake.Send(fake.Event("payment.failed", latest.PaymentID, time.Now())); status != 200 {
		t.Fatalf("late webhook: %d %s", status, body)
	}
	h.settled(o.ID)
	failed := failedFor(h, o.ID)
	if len(failed) != 1 || failed[0].Reason != "Latest decline." {
		t.Errorf("payment.failed %+v, want one with the latest decline", failed)
	}
}

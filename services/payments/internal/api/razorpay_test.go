package api_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"ticketing/common/errs"
	"ticketing/services/payments/internal/api"
	"ticketing/services/payments/internal/provider"
)

const rzpWebhookSecret = "rzp_webhook_secret_test"

func rzpWebhook(event string, created time.Time) []byte {
	return []byte(`{"entity":"event","event":"` + event + `","created_at":` + strconv.FormatInt(created.Unix(), 10) +
		`,"payload":{"payment":{"entity":{"id":"pay_1","order_id":"order_1","status":"captured","error_description":null}}}}`)
}

func TestParseRazorpayWebhook(t *testing.T) {
	now := time.Now()
	body := rzpWebhook("payment.captured", now)
	sig := provider.RazorpayWebhookSignature(body, rzpWebhookSecret)
	evt, err := api.ParseRazorpayWebhook(body, sig, "evt_1", rzpWebhookSecret, now)
	if err != nil || evt != (api.RazorpayEvent{ID: "evt_1", Type: "payment.captured", PaymentID: "pay_1", OrderID: "order_1"}) || !evt.Ours() {
		t.Fatalf("= %+v, %v", evt, err)
	}
	// Forged: another secret, a changed body, a signature of the wrong shape.
	for name, c := range map[string]struct {
		body []byte
		sig  string
	}{
		"another secret": {body, provider.RazorpayWebhookSignature(body, "other")},
		"body changed":   {bytes.Replace(body, []byte("pay_1"), []byte("pay_2"), 1), sig},
		"upper case":     {body, strings.ToUpper(sig)},
		"truncated":      {body, sig[:63]},
		"empty":          {body, ""},
	} {
		if _, err := api.ParseRazorpayWebhook(c.body, c.sig, "evt_1", rzpWebhookSecret, now); !errors.Is(err, api.ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
	if _, err := api.ParseRazorpayWebhook(body, sig, "evt_1", "", now); !errors.Is(err, api.ErrBadSignature) {
		t.Errorf("no secret configured: %v, want ErrBadSignature", err)
	}
	// Stale: a correctly signed event replayed later, or from the future.
	for _, at := range []time.Time{now.Add(-6 * time.Minute), now.Add(6 * time.Minute)} {
		old := rzpWebhook("payment.captured", at)
		if _, err := api.ParseRazorpayWebhook(old, provider.RazorpayWebhookSignature(old, rzpWebhookSecret), "evt_1", rzpWebhookSecret, now); !errors.Is(err, api.ErrStale) {
			t.Errorf("created %v: %v, want ErrStale", at, err)
		}
	}
	if _, err := api.ParseRazorpayWebhook(body, sig, "", rzpWebhookSecret, now); err == nil {
		t.Error("no event id: accepted")
	}
	if other, err := api.ParseRazorpayWebhook(rzpWebhook("refund.processed", now),
		provider.RazorpayWebhookSignature(rzpWebhook("refund.processed", now), rzpWebhookSecret), "evt_2", rzpWebhookSecret, now); err != nil || other.Ours() {
		t.Errorf("refund.processed = %+v, %v; want read and not ours", other, err)
	}
}

func TestVerifyCheckout(t *testing.T) {
	const secret = "rzp_key_secret_test"
	req := api.VerifyRequest{PaymentID: "pay_1", OrderID: "order_1", Signature: provider.RazorpayCheckoutSignature("order_1", "pay_1", secret)}
	if err := api.VerifyCheckout(req, secret); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]api.VerifyRequest{
		"another payment": {PaymentID: "pay_2", OrderID: "order_1", Signature: req.Signature},
		"another order":   {PaymentID: "pay_1", OrderID: "order_2", Signature: req.Signature},
		"swapped":         {PaymentID: "order_1", OrderID: "pay_1", Signature: req.Signature},
		"another secret":  {PaymentID: "pay_1", OrderID: "order_1", Signature: provider.RazorpayCheckoutSignature("order_1", "pay_1", "x")},
	} {
		if err := api.VerifyCheckout(r, secret); !errors.Is(err, api.ErrBadCheckoutSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Any body and headers either decode to an event whose signature verified, or are refused;
// never a panic.
func FuzzParseRazorpayWebhook(f *testing.F) {
	now := time.Unix(1_900_000_000, 0)
	for _, s := range []string{string(rzpWebhook("payment.captured", now)), string(rzpWebhook("payment.failed", now)),
		`{}`, `{"event":"order.paid","created_at":1900000000}`, `[]`, `{`, ``, `{"created_at":"x"}`} {
		f.Add([]byte(s), true, "evt_1")
		f.Add([]byte(s), false, "")
	}
	f.Fuzz(func(t *testing.T, body []byte, sign bool, eventID string) {
		sig := "00"
		if sign {
			sig = provider.RazorpayWebhookSignature(body, rzpWebhookSecret)
		}
		evt, err := api.ParseRazorpayWebhook(body, sig, eventID, rzpWebhookSecret, now)
		if err != nil {
			return
		}
		if !sign || evt.ID != eventID || evt.ID == "" || evt.Type == "" {
			t.Fatalf("%q (signed %v, id %q) accepted as %+v", body, sign, eventID, evt)
		}
	})
}

// Any body either decodes to a well-formed verification or is refused with a 4xx.
func FuzzDecodeVerify(f *testing.F) {
	for _, s := range []string{
		`{"razorpay_payment_id":"pay_1","razorpay_order_id":"order_1","razorpay_signature":"` + strings.Repeat("ab", 32) + `"}`,
		`{"razorpay_payment_id":"pay_1"}`, `{"razorpay_payment_id":1}`, `[]`, `null`, `{`, ``, `{"x":1}`,
		`{"razorpay_payment_id":"pay 1","razorpay_order_id":"order_1","razorpay_signature":"zz"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := api.DecodeVerify(bytes.NewReader(body))
		if err != nil {
			if k := errs.KindOf(err); k.Status() < 400 || k.Status() >= 500 {
				t.Fatalf("%q: error of status %d: %v", body, k.Status(), err)
			}
			return
		}
		if req.PaymentID == "" || req.OrderID == "" || len(req.Signature) != 64 {
			t.Fatalf("%q accepted as %+v", body, req)
		}
	})
}

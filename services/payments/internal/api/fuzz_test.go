package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"ticketing/common/errs"
	"ticketing/services/payments/internal/api"
)

// Any body either decodes to a valid request or is refused with a 4xx error kind; never a
// panic, never a 5xx.
func FuzzDecodeCreate(f *testing.F) {
	for _, s := range []string{
		`{"orderId":"o1","paymentMethodId":"pm_card_visa"}`,
		`{"orderId":"o1","token":"tok_visa"}`,
		`{"orderId":"o1"}`,
		`{"orderId":"o1","paymentMethodId":"pm_card_visa","token":"tok_visa"}`,
		`{"orderId":5}`, `[]`, `null`, `{`, ``, `{"orderId":"o1","x":1}`, `{"orderId":"o1"} {}`,
		`{"orderId":"o1","paymentMethodId":null}`, `{"orderId":"\u0000"}`, `{"OrderID":"o1"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		orderID, m, err := api.DecodeCreate(bytes.NewReader(body))
		if err != nil {
			if k := errs.KindOf(err); k.Status() < 400 || k.Status() >= 500 {
				t.Fatalf("%q: error of status %d: %v", body, k.Status(), err)
			}
			return
		}
		if orderID == "" || (m.PaymentMethod != "" && m.Token != "") {
			t.Fatalf("%q accepted as %q %+v", body, orderID, m)
		}
		// A valid request is a JSON object naming the order (encoding/json matches field
		// names case-insensitively, so "OrderId" counts).
		var probe map[string]any
		if json.Unmarshal(body, &probe) != nil {
			t.Fatalf("%q accepted but is not a JSON object", body)
		}
		named := false
		for k, v := range probe {
			named = named || (strings.EqualFold(k, "orderId") && v == orderID)
		}
		if !named {
			t.Fatalf("%q accepted but does not name order %q", body, orderID)
		}
	})
}

const secret = "whsec_fuzz"

func sign(payload []byte, ts time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: ts}).Header
}

// Any signed payload parses or is refused without a panic; a parsed event the service acts
// on names an intent, an order and an attempt. The same payload with a tampered byte, a
// stale signature or another secret is always ErrBadSignature.
func FuzzParseWebhook(f *testing.F) {
	for _, s := range []string{
		`{"id":"evt_1","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","object":"payment_intent","metadata":{"orderId":"o1","attempt":"1"}}}}`,
		`{"id":"evt_2","type":"payment_intent.payment_failed","data":{"object":{"id":"pi_1","metadata":{"orderId":"o1","attempt":"2"},"last_payment_error":{"message":"Your card was declined."}}}}`,
		`{"id":"evt_3","type":"payment_intent.succeeded","data":{"object":{"id":"cus_1","object":"customer"}}}`,
		`{"id":"evt_4","type":"payment_intent.succeeded","data":{"object":{"metadata":{"attempt":"-1"}}}}`,
		`{"id":"evt_5","type":"payment_intent.succeeded","data":null}`,
		`{"id":"evt_6","type":"payment_intent.succeeded","data":{"object":[]}}`,
		`{"type":"customer.created"}`, `null`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, payload []byte, flip uint8) {
		now := time.Now()
		evt, err := api.ParseWebhook(payload, sign(payload, now), secret)
		if errors.Is(err, api.ErrBadSignature) {
			t.Fatalf("a correctly signed payload was refused as unsigned: %v", err)
		}
		if err == nil {
			if evt.ID == "" {
				t.Fatalf("event without id accepted: %q", payload)
			}
			if evt.Ours() && (evt.IntentID == "" || evt.OrderID == "" || evt.Attempt < 1) {
				t.Fatalf("acted-on event lacks fields: %+v", evt)
			}
		}
		if len(payload) > 0 {
			tampered := bytes.Clone(payload)
			tampered[int(flip)%len(tampered)] ^= 0x01
			if _, err := api.ParseWebhook(tampered, sign(payload, now), secret); !errors.Is(err, api.ErrBadSignature) {
				t.Fatalf("tampered payload not refused: %v", err)
			}
		}
		if _, err := api.ParseWebhook(payload, sign(payload, now.Add(-10*time.Minute)), secret); !errors.Is(err, api.ErrBadSignature) {
			t.Fatalf("stale signature not refused: %v", err)
		}
		if _, err := api.ParseWebhook(payload, sign(payload, now), secret+"x"); !errors.Is(err, api.ErrBadSignature) {
			t.Fatalf("other secret not refused: %v", err)
		}
		if _, err := api.ParseWebhook(payload, strings.Repeat("t=1,", 3), secret); !errors.Is(err, api.ErrBadSignature) {
			t.Fatalf("garbage header not refused: %v", err)
		}
	})
}

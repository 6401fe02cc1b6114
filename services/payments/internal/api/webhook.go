package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/stripe/stripe-go/v76/webhook"

	"ticketing/common/errs"
	"ticketing/common/web"
	"ticketing/services/payments/internal/app"
	"ticketing/services/payments/internal/provider"
)

// Stripe event types the service acts on.
const (
	EventIntentSucceeded = "payment_intent.succeeded"
	EventIntentFailed    = "payment_intent.payment_failed"
)

// WebhookEvent is what the service reads from a verified Stripe event.
type WebhookEvent struct {
	ID       string
	Type     string
	IntentID string
	OrderID  string // metadata.orderId; empty for an intent this service did not create
	Attempt  int    // metadata.attempt
	Message  string // last_payment_error.message of a failed intent
}

// Ours reports whether the event is one the service acts on, about one of its intents.
func (e WebhookEvent) Ours() bool {
	return (e.Type == EventIntentSucceeded || e.Type == EventIntentFailed) && e.OrderID != "" && e.Attempt > 0 && e.IntentID != ""
}

type intentObject struct {
	ID               string            `json:"id"`
	Object           string            `json:"object"`
	Metadata         map[string]string `json:"metadata"`
	LastPaymentError *struct {
		Message string `json:"message"`
	} `json:"last_payment_error"`
}

// ErrBadSignature is a webhook whose Stripe-Signature header does not verify.
var ErrBadSignature = errors.New("webhook signature")

// ParseWebhook verifies payload against the Stripe-Signature header with secret (HMAC over
// the raw body, timestamp within stripe-go's 5 minutes) and reads the event. Any failure of
// the signature is ErrBadSignature; a verified event that is not JSON is another error.
//
// The event's API version is not compared with stripe-go's: the service reads only the
// event id and type and the PaymentIntent's id, metadata and last_payment_error.message,
// which every API version keeps, so an endpoint on another version still works.
func ParseWebhook(payload []byte, header, secret string) (WebhookEvent, error) {
	evt, err := webhook.ConstructEventWithOptions(payload, header, secret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		if verr := webhook.ValidatePayload(payload, header, secret); verr != nil {
			return WebhookEvent{}, fmt.Errorf("%w: %v", ErrBadSignature, verr)
		}
		return WebhookEvent{}, fmt.Errorf("webhook body: %w", err)
	}
	out := WebhookEvent{ID: evt.ID, Type: string(evt.Type)}
	if evt.ID == "" {
		return WebhookEvent{}, errors.New("webhook event without an id")
	}
	if out.Type != EventIntentSucceeded && out.Type != EventIntentFailed {
		return out, nil
	}
	if evt.Data == nil || len(evt.Data.Raw) == 0 {
		return WebhookEvent{}, errors.New("webhook event without data.object")
	}
	var obj intentObject
	if err := json.Unmarshal(evt.Data.Raw, &obj); err != nil {
		return WebhookEvent{}, fmt.Errorf("webhook data.object: %w", err)
	}
	if obj.Object != "" && obj.Object != "payment_intent" {
		return WebhookEvent{}, fmt.Errorf("webhook %s carries a %q, not a payment_intent", out.Type, obj.Object)
	}
	out.IntentID = obj.ID
	out.OrderID = obj.Metadata[provider.MetaOrderID]
	out.Attempt, _ = parseAttempt(obj.Metadata[provider.MetaAttempt])
	if obj.LastPaymentError != nil {
		out.Message = obj.LastPaymentError.Message
	}
	return out, nil
}

// webhook answers 200 once the event's effect is stored (or it was already handled, or it is
// of no concern to the service), 400 when the signature does not verify or the event is not
// readable, 413 over 1 MiB, and 500 when storing failed, so that Stripe retries.
func (h *Handler) webhook(w http.ResponseWriter, r *http.Request) {
	payload, ok := readBody(w, r)
	if !ok {
		return
	}
	evt, err := ParseWebhook(payload, r.Header.Get("Stripe-Signature"), h.WebhookSecret)
	if errors.Is(err, ErrBadSignature) {
		h.Log.WarnContext(r.Context(), "webhook refused", "err", err)
		web.Error(w, r, errs.Wrap(errs.Invalid, err, "Invalid Stripe-Signature"))
		return
	}
	if err != nil {
		h.Log.WarnContext(r.Context(), "webhook refused", "err", err)
		web.Error(w, r, errs.Wrap(errs.Invalid, err, "Invalid webhook event"))
		return
	}
	if !evt.Ours() {
		web.Respond(w, http.StatusOK, map[string]bool{"received": true})
		return
	}
	err = h.App.HandleIntentEvent(r.Context(), app.IntentEvent{ID: evt.ID, Type: evt.Type,
		Succeeded: evt.Type == EventIntentSucceeded, OrderID: evt.OrderID, Attempt: evt.Attempt,
		IntentID: evt.IntentID, Message: evt.Message})
	if err != nil {
		web.Error(w, r, toHTTP(err))
		return
	}
	web.Respond(w, http.StatusOK, map[string]bool{"received": true})
}

// readBody reads a webhook's raw body, up to web.MaxBody; on failure it answers 413 or 400
// and reports false.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, web.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			web.Error(w, r, errs.New(errs.TooLarge, "Request body must not exceed %d bytes", web.MaxBody))
			return nil, false
		}
		web.Error(w, r, errs.Wrap(errs.Invalid, err, "Request body could not be read"))
		return nil, false
	}
	return body, true
}

// parseAttempt reads the attempt number from PaymentIntent metadata.
func parseAttempt(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

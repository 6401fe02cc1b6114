package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// Offline is a processor in memory that follows Stripe's test cards and idempotency rules,
// for tests and the dev stack (PAYMENT_PROVIDER=offline). It moves no money. Known methods:
//
//	tok_visa, tok_mastercard, tok_amex, pm_card_visa, pm_card_mastercard, pm_card_amex: succeed
//	tok_chargeDeclined, pm_card_chargeDeclined: "Your card was declined."
//	tok_chargeDeclinedInsufficientFunds, pm_card_chargeDeclinedInsufficientFunds
//	tok_chargeDeclinedExpiredCard, pm_card_chargeDeclinedExpiredCard
//	tok_chargeDeclinedIncorrectCvc, pm_card_chargeDeclinedIncorrectCvc
//
// Anything else is an unknown payment method, as Stripe answers for an id it does not know.
// A key used again with the same parameters returns the first result without charging; with
// other parameters, or while the first call runs, it is ErrIdempotency.
type Offline struct {
	mu           sync.Mutex
	beforeCharge func(ChargeRequest)
	failRefunds  int
	settleLater  bool
	results      map[string]result // by idempotency key
	inflight     map[string]bool
	intents      map[string]*offlineIntent
	charges      int
	declines     int
	refunds      int
}

type result struct {
	fingerprint string
	intent      Intent
	refund      Refund
	err         error
}

type offlineIntent struct {
	Intent
	refunded bool
}

type outcome struct {
	code, declineCode, message string // empty code: success
}

var testCards = map[string]outcome{
	"visa":                                {},
	"mastercard":                          {},
	"amex":                                {},
	"chargeDeclined":                      {"card_declined", "generic_decline", DeclinedMessage},
	"chargeDeclinedInsufficientFunds":     {"card_declined", "insufficient_funds", "Your card has insufficient funds."},
	"chargeDeclinedExpiredCard":           {"expired_card", "expired_card", "Your card has expired."},
	"chargeDeclinedIncorrectCvc":          {"incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."},
	"chargeDeclinedProcessingError":       {"processing_error", "processing_error", "An error occurred while processing your card. Try again in a little bit."},
	"chargeDeclinedFraudulent":            {"card_declined", "fraudulent", DeclinedMessage},
	"chargeDeclinedLostCard":              {"card_declined", "lost_card", DeclinedMessage},
	"chargeDeclinedStolenCard":            {"card_declined", "stolen_card", DeclinedMessage},
	"chargeDeclinedIncorrectNumber":       {"incorrect_number", "", "Your card number is incorrect."},
	"chargeDeclinedVelocityLimitExceeded": {"card_declined", "card_velocity_exceeded", DeclinedMessage},
}

// NewOffline makes the offline provider and warns in log that no card is really charged.
func NewOffline(log *slog.Logger) *Offline {
	if log != nil {
		log.Warn("PAYMENT_PROVIDER=offline: payments follow Stripe's test cards and move no money; never use it in production")
	}
	return &Offline{
		results:  map[string]result{},
		inflight: map[string]bool{},
		intents:  map[string]*offlineIntent{},
	}
}

// BeforeCharge sets f to run inside Charge before the outcome is decided, outside the
// provider's lock: a test hook to hold a charge in flight. nil removes it.
func (o *Offline) BeforeCharge(f func(ChargeRequest)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.beforeCharge = f
}

// FailRefunds makes the next n refunds fail as a network error would (nothing recorded under
// their keys), for tests of retries.
func (o *Offline) FailRefunds(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failRefunds = n
}

// Name implements Provider.
func (*Offline) Name() string { return "offline" }

// SettleLater makes the charges that would succeed stay processing (as a bank debit does at
// Stripe) until Settle settles them; for tests of payments settled later.
func (o *Offline) SettleLater(on bool) { o.mu.Lock(); defer o.mu.Unlock(); o.settleLater = on }

// Settle ends a processing PaymentIntent: succeeded, or failed with a decline (the intent
// then requires a payment method again, with the decline as its failure, as at Stripe).
// Nothing is announced: no webhook is sent.
func (o *Offline) Settle(intentID string, succeed bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	in, ok := o.intents[intentID]
	if !ok || in.Status != StatusProcessing {
		return fmt.Errorf("offline: no processing payment_intent %q", intentID)
	}
	if succeed {
		in.Status = StatusSucceeded
		o.charges++
		return nil
	}
	in.Status, in.Failure = StatusRequiresPaymentMethod, DeclinedMessage
	o.declines++
	return nil
}

// Charges is how many charges moved money (replays of a key not counted).
func (o *Offline) Charges() int { o.mu.Lock(); defer o.mu.Unlock(); return o.charges }

// Declines is how many charges were declined (replays not counted).
func (o *Offline) Declines() int { o.mu.Lock(); defer o.mu.Unlock(); return o.declines }

// Refunds is how many refunds moved money (replays not counted).
func (o *Offline) Refunds() int { o.mu.Lock(); defer o.mu.Unlock(); return o.refunds }

// IntentStatus is the status of a PaymentIntent it created, and whether it is refunded.
func (o *Offline) IntentStatus(id string) (IntentStatus, bool, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	in, ok := o.intents[id]
	if !ok {
		return "", false, false
	}
	return in.Status, in.refunded, true
}

// Confirm does what Stripe.js does in the browser with a client secret: it confirms an
// unconfirmed PaymentIntent with a test method, and reports the outcome.
func (o *Offline) Confirm(intentID, method string) (Intent, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	in, ok := o.intents[intentID]
	if !ok {
		return Intent{}, &InvalidError{Param: "intent", Message: "No such payment_intent: '" + intentID + "'"}
	}
	if in.Status != StatusRequiresPaymentMethod {
		return Intent{}, fmt.Errorf("payment_intent_unexpected_state: status %s", in.Status)
	}
	out, err := lookup(method, "payment_method")
	if err != nil {
		return Intent{}, err
	}
	if out.code != "" {
		o.declines++
		in.Failure = out.message
		return in.Intent, &DeclinedError{Message: out.message, Code: out.code, DeclineCode: out.declineCode, IntentID: in.ID}
	}
	in.Status, in.Failure = StatusSucceeded, ""
	o.charges++
	return in.Intent, nil
}

// Lookup implements Provider: the PaymentIntent as it is now.
func (o *Offline) Lookup(ctx context.Context, id string) (Intent, error) {
	if err := ctx.Err(); err != nil {
		return Intent{}, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	in, ok := o.intents[id]
	if !ok {
		return Intent{}, fmt.Errorf("%w: %s", ErrUnknownIntent, id)
	}
	out := in.Intent
	out.ClientSecret = ""
	return out, nil
}

func lookup(method, param string) (outcome, error) {
	name, ok := strings.CutPrefix(method, "pm_card_")
	if !ok {
		name, ok = strings.CutPrefix(method, "tok_")
	}
	out, known := testCards[name]
	if !ok || !known {
		what := "PaymentMethod"
		if param == "card[token]" {
			what = "token"
		}
		return outcome{}, &InvalidError{Param: param, Message: fmt.Sprintf("No such %s: '%s'", what, method)}
	}
	return out, nil
}

// begin returns the stored result of key, or claims key for a new call.
func (o *Offline) begin(key, fingerprint string) (result, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r, ok := o.results[key]; ok {
		if r.fingerprint != fingerprint {
			return result{}, false, fmt.Errorf("%w: keys for idempotent requests can only be used with the same parameters", ErrIdempotency)
		}
		return r, true, nil
	}
	if o.inflight[key] {
		return result{}, false, fmt.Errorf("%w: there is currently another in-progress request using this idempotent key", ErrIdempotency)
	}
	o.inflight[key] = true
	return result{}, false, nil
}

// end stores r under key; the caller holds o.mu.
func (o *Offline) end(key string, r result) {
	delete(o.inflight, key)
	o.results[key] = r
}

func (o *Offline) newIntent(amount int64, status IntentStatus) *offlineIntent {
	id := "pi_offline_" + randomHex(12)
	in := &offlineIntent{Intent: Intent{ID: id, Status: status, AmountCents: amount, ClientSecret: id + "_secret_" + randomHex(12)}}
	o.intents[id] = in
	return in
}

// Charge implements Provider.
func (o *Offline) Charge(ctx context.Context, req ChargeRequest) (Intent, error) {
	if err := ctx.Err(); err != nil {
		return Intent{}, err
	}
	fp := fmt.Sprintf("charge|%s|%d|%d|%s|%s|%s", req.OrderID, req.Attempt, req.AmountCents, req.Currency, req.PaymentMethod, req.Token)
	if r, done, err := o.begin(req.IdempotencyKey, fp); err != nil || done {
		if err != nil {
			return Intent{}, err
		}
		return r.intent, r.err
	}
	o.mu.Lock()
	hook := o.beforeCharge
	o.mu.Unlock()
	if hook != nil {
		hook(req)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var out outcome
	var err error
	if req.Token != "" {
		out, err = lookup(req.Token, "card[token]")
	} else {
		out, err = lookup(req.PaymentMethod, "payment_method")
	}
	var in Intent
	switch {
	case err != nil:
	case req.AmountCents < 50:
		err = &InvalidError{Param: "amount", Message: "Amount must be at least $0.50 usd"}
	case out.code != "":
		pi := o.newIntent(req.AmountCents, StatusRequiresPaymentMethod)
		pi.Failure = out.message
		in = pi.Intent
		err = &DeclinedError{Message: out.message, Code: out.code, DeclineCode: out.declineCode, IntentID: pi.ID}
		o.declines++
	case o.settleLater:
		pi := o.newIntent(req.AmountCents, StatusProcessing)
		pi.ClientSecret = ""
		in = pi.Intent
	default:
		pi := o.newIntent(req.AmountCents, StatusSucceeded)
		pi.ClientSecret = ""
		in = pi.Intent
		o.charges++
	}
	o.end(req.IdempotencyKey, result{fingerprint: fp, intent: in, err: err})
	return in, err
}

// CreateIntent implements Provider.
func (o *Offline) CreateIntent(ctx context.Context, req IntentRequest) (Intent, error) {
	if err := ctx.Err(); err != nil {
		return Intent{}, err
	}
	fp := fmt.Sprintf("intent|%s|%d|%d|%s", req.OrderID, req.Attempt, req.AmountCents, req.Currency)
	if r, done, err := o.begin(req.IdempotencyKey, fp); err != nil || done {
		if err != nil {
			return Intent{}, err
		}
		return r.intent, r.err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	in := o.newIntent(req.AmountCents, StatusRequiresPaymentMethod).Intent
	o.end(req.IdempotencyKey, result{fingerprint: fp, intent: in})
	return in, nil
}

// Refund implements Provider.
func (o *Offline) Refund(ctx context.Context, req RefundRequest) (Refund, error) {
	if err := ctx.Err(); err != nil {
		return Refund{}, err
	}
	o.mu.Lock()
	if o.failRefunds > 0 {
		o.failRefunds--
		o.mu.Unlock()
		return Refund{}, errors.New("offline: connection reset (FailRefunds)")
	}
	o.mu.Unlock()
	fp := "refund|" + req.PaymentIntentID
	if r, done, err := o.begin(req.IdempotencyKey, fp); err != nil || done {
		if err != nil {
			return Refund{}, err
		}
		return r.refund, r.err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var r Refund
	var err error
	in, ok := o.intents[req.PaymentIntentID]
	switch {
	case !ok:
		err = &InvalidError{Param: "payment_intent", Message: "No such payment_intent: '" + req.PaymentIntentID + "'"}
	case in.Status != StatusSucceeded:
		err = fmt.Errorf("offline: payment_intent %s is %s, nothing to refund", in.ID, in.Status)
	case in.refunded: // Stripe: charge_already_refunded, which the Stripe provider treats as done
		r = Refund{Status: "succeeded"}
	default:
		in.refunded = true
		o.refunds++
		r = Refund{ID: "re_offline_" + randomHex(12), Status: "succeeded"}
	}
	o.end(req.IdempotencyKey, result{fingerprint: fp, refund: r, err: err})
	return r, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

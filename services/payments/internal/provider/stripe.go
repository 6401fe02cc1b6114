package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// StripeOptions configure the Stripe provider.
type StripeOptions struct {
	SecretKey  string
	APIBase    string       // empty for Stripe's own API; stripe-mock's URL in tests
	HTTPClient *http.Client // nil for a client with a 20s timeout
	// MaxNetworkRetries is how often stripe-go retries a request that failed in transit,
	// with the same idempotency key. 2 by default; -1 for none.
	MaxNetworkRetries int64
}

// Stripe charges through Stripe's PaymentIntents API with stripe-go.
type Stripe struct {
	api *client.API
}

// NewStripe makes the Stripe provider.
func NewStripe(opts StripeOptions) *Stripe {
	hc := opts.HTTPClient
	if hc == nil {
		// Shorter than the HTTP server's write timeout, so that a slow Stripe still gets an
		// answer to the client (who retries with the same idempotency key).
		hc = &http.Client{Timeout: 20 * time.Second}
	}
	retries := opts.MaxNetworkRetries
	switch {
	case retries == 0:
		retries = 2
	case retries < 0:
		retries = 0
	}
	cfg := &stripe.BackendConfig{
		HTTPClient:        hc,
		MaxNetworkRetries: stripe.Int64(retries),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if opts.APIBase != "" {
		cfg.URL = stripe.String(opts.APIBase)
	}
	return &Stripe{api: client.New(opts.SecretKey, stripe.NewBackendsWithConfig(cfg))}
}

// Name implements Provider.
func (*Stripe) Name() string { return "stripe" }

func metadata(orderID string, attempt int) map[string]string {
	return map[string]string{MetaOrderID: orderID, MetaAttempt: strconv.Itoa(attempt)}
}

// Charge implements Provider. A token is first turned into a PaymentMethod (PaymentIntents
// take no tokens directly: Stripe's schema has no card in payment_method_data), under an
// idempotency key of its own derived from the charge's.
func (s *Stripe) Charge(ctx context.Context, req ChargeRequest) (Intent, error) {
	pm := req.PaymentMethod
	if req.Token != "" {
		p := &stripe.PaymentMethodParams{
			Type: stripe.String(string(stripe.PaymentMethodTypeCard)),
			Card: &stripe.PaymentMethodCardParams{Token: stripe.String(req.Token)},
		}
		p.Context = ctx
		p.SetIdempotencyKey(req.IdempotencyKey + "-pm")
		p.AddMetadata(MetaOrderID, req.OrderID)
		m, err := s.api.PaymentMethods.New(p)
		if err != nil {
			return Intent{}, mapError(err)
		}
		pm = m.ID
	}
	p := &stripe.PaymentIntentParams{
		Amount:             stripe.Int64(req.AmountCents),
		Currency:           stripe.String(req.Currency),
		PaymentMethod:      stripe.String(pm),
		PaymentMethodTypes: []*string{stripe.String(string(stripe.PaymentMethodTypeCard))},
		Confirm:            stripe.Bool(true),
		// A card that asks for 3-D Secure cannot be completed server-side: fail it like a
		// decline rather than leave it waiting; the browser flow handles authentication.
		ErrorOnRequiresAction: stripe.Bool(true),
		Metadata:              metadata(req.OrderID, req.Attempt),
	}
	return s.newIntent(ctx, p, req.IdempotencyKey)
}

// CreateIntent implements Provider.
func (s *Stripe) CreateIntent(ctx context.Context, req IntentRequest) (Intent, error) {
	p := &stripe.PaymentIntentParams{
		Amount:                  stripe.Int64(req.AmountCents),
		Currency:                stripe.String(req.Currency),
		AutomaticPaymentMethods: &stripe.PaymentIntentAutomaticPaymentMethodsParams{Enabled: stripe.Bool(true)},
		Metadata:                metadata(req.OrderID, req.Attempt),
	}
	return s.newIntent(ctx, p, req.IdempotencyKey)
}

// newIntent creates the PaymentIntent p under an idempotency key.
func (s *Stripe) newIntent(ctx context.Context, p *stripe.PaymentIntentParams, key string) (Intent, error) {
	p.Context = ctx
	p.SetIdempotencyKey(key)
	pi, err := s.api.PaymentIntents.New(p)
	if err != nil {
		return Intent{}, mapError(err)
	}
	return intentOf(pi), nil
}

// Refund implements Provider. A PaymentIntent that is already refunded counts as refunded.
func (s *Stripe) Refund(ctx context.Context, req RefundRequest) (Refund, error) {
	p := &stripe.RefundParams{
		PaymentIntent: stripe.String(req.PaymentIntentID),
		Reason:        stripe.String(string(stripe.RefundReasonRequestedByCustomer)),
		Metadata:      map[string]string{MetaOrderID: req.OrderID, "reason": req.Reason},
	}
	p.Context = ctx
	p.SetIdempotencyKey(req.IdempotencyKey)
	r, err := s.api.Refunds.New(p)
	if err != nil {
		var se *stripe.Error
		if errors.As(err, &se) && se.Code == stripe.ErrorCodeChargeAlreadyRefunded {
			return Refund{Status: "succeeded"}, nil
		}
		return Refund{}, mapError(err)
	}
	return Refund{ID: r.ID, Status: string(r.Status)}, nil
}

// Lookup implements Provider: the PaymentIntent id as Stripe has it now.
func (s *Stripe) Lookup(ctx context.Context, id string) (Intent, error) {
	p := &stripe.PaymentIntentParams{}
	p.Context = ctx
	pi, err := s.api.PaymentIntents.Get(id, p)
	if err != nil {
		var se *stripe.Error
		if errors.As(err, &se) && se.Code == stripe.ErrorCodeResourceMissing {
			return Intent{}, fmt.Errorf("%w: %s", ErrUnknownIntent, id)
		}
		return Intent{}, mapError(err)
	}
	in := intentOf(pi)
	if pi.LastPaymentError != nil {
		in.Failure = pi.LastPaymentError.Msg
		if in.Failure == "" {
			in.Failure = DeclinedMessage
		}
	}
	return in, nil
}

func intentOf(pi *stripe.PaymentIntent) Intent {
	return Intent{ID: pi.ID, Status: IntentStatus(pi.Status), ClientSecret: pi.ClientSecret, AmountCents: pi.Amount}
}

// mapError turns Stripe's errors into the provider's: card errors are declines, idempotency
// errors ErrIdempotency, invalid requests about the payment method InvalidError; anything
// else stays a plain error (retryable with the same key).
func mapError(err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("stripe: %w", err)
	}
	switch {
	case se.Type == stripe.ErrorTypeCard:
		d := &DeclinedError{Message: se.Msg, Code: string(se.Code), DeclineCode: string(se.DeclineCode)}
		if d.Message == "" {
			d.Message = DeclinedMessage
		}
		if se.PaymentIntent != nil {
			d.IntentID = se.PaymentIntent.ID
		}
		return d
	case se.Type == stripe.ErrorTypeIdempotency || se.Code == stripe.ErrorCodeIdempotencyKeyInUse:
		return fmt.Errorf("%w: %s", ErrIdempotency, se.Msg)
	case se.Type == stripe.ErrorTypeInvalidRequest && se.HTTPStatusCode < 500 &&
		(se.Param == "payment_method" || se.Param == "card[token]" || se.Param == "amount" || se.Code == stripe.ErrorCodeResourceMissing):
		return &InvalidError{Param: se.Param, Message: se.Msg}
	}
	return fmt.Errorf("stripe: %s %s (status %d, request %s): %w", se.Type, se.Code, se.HTTPStatusCode, se.RequestID, err)
}

// Package checkout runs the payment flows: charging an order at most once whatever the
// number of concurrent or retried requests, completing a payment from Stripe's webhooks, and
// refunding a payment whose order was cancelled while its card was charged.
//
// Never charging twice rests on two things: the unique index on the payment's orderId (one
// payment per order) and the idempotency key "pay-<orderId>-<attempt>" (every request for an
// attempt sends the same key, and the processor charges a key at most once). A new attempt,
// with a new key, starts only from a failed one, by a conditional update on the attempt.
package checkout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"ticketing/common/bus"
	"ticketing/common/errs"
	"ticketing/common/events"
	"ticketing/services/payments/internal/payment"
	"ticketing/services/payments/internal/provider"
	"ticketing/services/payments/internal/store"
)

// ErrSettling is a payment still being charged: its outcome decides whether to refund.
var ErrSettling = fmt.Errorf("payment still processing: %w", bus.ErrNotYet)

// Service runs the flows.
type Service struct {
	Store    *store.Store
	Provider provider.Provider
	Relay    bus.Notifier
	Currency string
	Log      *slog.Logger
	Now      func() time.Time // time.Now when nil
	// ReplicaWait is how long a request waits for a new order to reach the replica (the
	// client pays right after ordering, before order.created arrived); 3s when zero.
	ReplicaWait time.Duration
}

// Result is the outcome of a payment request.
type Result struct {
	Payment      payment.Payment
	ClientSecret string // for a PaymentIntent the browser confirms
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Pay pays orderID for userID with m, or prepares a PaymentIntent for the browser when m is
// None. A retry by the owner of an order whose payment already succeeded returns that payment.
func (s *Service) Pay(ctx context.Context, userID, orderID string, m payment.Method) (Result, error) {
	o, err := s.order(ctx, orderID)
	if err != nil {
		return Result{}, err
	}
	if err := payment.CheckPayable(o, userID, s.now()); err != nil {
		return Result{}, err
	}
	p, _, err := s.Store.StartPayment(ctx, payment.Payment{
		ID: store.NewPaymentID(), OrderID: o.ID, UserID: userID, Status: payment.StatusProcessing,
		Attempt: 1, AmountCents: o.PriceCents, Currency: s.Currency,
	})
	if err != nil {
		return Result{}, err
	}
	for range 5 {
		switch p.Status {
		case payment.StatusSucceeded:
			return Result{Payment: p}, nil
		case payment.StatusRefunded:
			return Result{}, payment.ErrRefunded
		case payment.StatusRequiresPaymentMethod:
			if m.None() {
				return s.prepare(ctx, p) // the same key: the processor returns the same intent
			}
			return Result{}, payment.ErrAwaitingClient
		case payment.StatusProcessing:
			if m.None() {
				return s.prepare(ctx, p)
			}
			return s.charge(ctx, p, m)
		case payment.StatusFailed:
			next, ok, err := s.Store.NextAttempt(ctx, p.ID, p.Attempt, payment.StatusFailed)
			if err != nil {
				return Result{}, err
			}
			if ok {
				p = next
				continue
			}
		}
		if p, err = s.Store.Payment(ctx, p.ID); err != nil {
			return Result{}, err
		}
	}
	return Result{}, payment.ErrInProgress
}

// order reads the replica's order. An id the orders service made moments ago (ids are
// time-ordered ObjectIDs) may not have reached the replica yet: wait for it a little rather
// than answer 404 to a client that pays right after ordering. Other ids answer at once.
func (s *Service) order(ctx context.Context, orderID string) (payment.Order, error) {
	wait := s.ReplicaWait
	if wait <= 0 {
		wait = 3 * time.Second
	}
	deadline := s.now().Add(wait)
	for {
		o, err := s.Store.Order(ctx, orderID)
		if err == nil {
			return o, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return payment.Order{}, err
		}
		if !payment.RecentID(orderID, s.now(), time.Minute) || !s.now().Before(deadline) {
			return payment.Order{}, payment.ErrOrderNotFound
		}
		select {
		case <-ctx.Done():
			return payment.Order{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// charge runs attempt p.Attempt with the method, under the attempt's key.
func (s *Service) charge(ctx context.Context, p payment.Payment, m payment.Method) (Result, error) {
	in, err := s.Provider.Charge(ctx, provider.ChargeRequest{
		OrderID: p.OrderID, Attempt: p.Attempt, AmountCents: p.AmountCents, Currency: p.Currency,
		PaymentMethod: m.PaymentMethod, Token: m.Token, IdempotencyKey: payment.ChargeKey(p.OrderID, p.Attempt),
	})
	var declined *provider.DeclinedError
	var invalid *provider.InvalidError
	switch {
	case errors.As(err, &declined):
		_, applied, ferr := s.Store.Fail(ctx, p.ID, p.Attempt, declined.IntentID, declined.Message)
		if ferr != nil {
			return Result{}, ferr
		}
		countFailure("declined", applied)
		return Result{}, errs.Wrap(errs.PaymentRequired, err, declined.Message)
	case errors.As(err, &invalid):
		_, applied, ferr := s.Store.Fail(ctx, p.ID, p.Attempt, "", invalid.Message)
		if ferr != nil {
			return Result{}, ferr
		}
		countFailure("failed", applied)
		field := "paymentMethodId"
		if m.Token != "" {
			field = "token"
		}
		if invalid.Param == "amount" {
			return Result{}, errs.Wrap(errs.Conflict, err, invalid.Message)
		}
		return Result{}, errs.Field(field, invalid.Message)
	case errors.Is(err, provider.ErrIdempotency):
		return Result{}, errs.Wrap(errs.Conflict, err, payment.ErrInProgress.Message)
	case err != nil:
		// The outcome is unknown: the payment stays processing and a retry sends the same key.
		return Result{}, errs.Wrap(errs.Unavailable, err, "The payment provider is unavailable; try again")
	}
	switch in.Status {
	case provider.StatusSucceeded:
		return s.succeeded(ctx, p, p.Attempt, in.ID)
	case provider.StatusProcessing:
		// Not for cards; the webhook settles it. The client sees status processing.
		p.StripeID = in.ID
		return Result{Payment: p}, nil
	default:
		msg := provider.DeclinedMessage
		_, applied, err := s.Store.Fail(ctx, p.ID, p.Attempt, in.ID, "payment intent "+string(in.Status))
		if err != nil {
			return Result{}, err
		}
		countFailure("declined", applied)
		return Result{}, errs.Wrap(errs.PaymentRequired, fmt.Errorf("payment intent %s is %s", in.ID, in.Status), msg)
	}
}

// prepare creates (or, with the same key, gets again) attempt p.Attempt's PaymentIntent for
// the browser to confirm.
func (s *Service) prepare(ctx context.Context, p payment.Payment) (Result, error) {
	in, err := s.Provider.CreateIntent(ctx, provider.IntentRequest{
		OrderID: p.OrderID, Attempt: p.Attempt, AmountCents: p.AmountCents, Currency: p.Currency,
		IdempotencyKey: payment.ChargeKey(p.OrderID, p.Attempt),
	})
	switch {
	case errors.Is(err, provider.ErrIdempotency):
		return Result{}, errs.Wrap(errs.Conflict, err, payment.ErrInProgress.Message)
	case err != nil:
		return Result{}, errs.Wrap(errs.Unavailable, err, "The payment provider is unavailable; try again")
	}
	if p.Status == payment.StatusProcessing {
		next, ok, err := s.Store.AwaitClient(ctx, p.ID, p.Attempt, in.ID)
		if err != nil {
			return Result{}, err
		}
		if !ok {
			if next, err = s.Store.Payment(ctx, p.ID); err != nil {
				return Result{}, err
			}
			if next.Status != payment.StatusRequiresPaymentMethod || next.StripeID != in.ID {
				if next.Status == payment.StatusSucceeded {
					return Result{Payment: next}, nil
				}
				return Result{}, payment.ErrInProgress
			}
		}
		p = next
	}
	return Result{Payment: p, ClientSecret: in.ClientSecret}, nil
}

// succeeded records that attempt n of p charged PaymentIntent intentID, with payment.created
// in the same write, then refunds at once if the order was cancelled meanwhile.
func (s *Service) succeeded(ctx context.Context, p payment.Payment, n int, intentID string) (Result, error) {
	env, err := bus.NewEnvelopeWithID(ctx, "payment-created-"+p.ID, events.PaymentCreated{ID: p.ID, OrderID: p.OrderID, StripeID: intentID})
	if err != nil {
		return Result{}, err
	}
	done, ok, err := s.Store.Succeed(ctx, p.ID, n, intentID, env)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		cur, err := s.Store.Payment(ctx, p.ID)
		if err != nil {
			return Result{}, err
		}
		if (cur.Status == payment.StatusSucceeded || cur.Status == payment.StatusRefunded) && cur.StripeID == intentID {
			return s.result(cur)
		}
		// Money moved on an intent that is not this payment's current attempt (it cannot
		// happen through this service's flows): give it back rather than keep it unrecorded.
		s.Log.ErrorContext(ctx, "a payment intent succeeded that is not the order's payment; refunding it",
			"order_id", p.OrderID, "payment_intent", intentID, "attempt", n, "current_attempt", cur.Attempt, "status", cur.Status)
		if _, err := s.Provider.Refund(ctx, provider.RefundRequest{OrderID: p.OrderID, PaymentIntentID: intentID,
			Reason: "duplicate", IdempotencyKey: "refund-" + intentID}); err != nil {
			return Result{}, err
		}
		return Result{}, payment.ErrInProgress
	}
	paymentsTotal.WithLabelValues("succeeded").Inc()
	s.Relay.Notify(p.ID, env)
	s.Log.InfoContext(ctx, "payment succeeded", "payment_id", p.ID, "order_id", p.OrderID, "payment_intent", intentID)
	// Late success: the order may have been cancelled (its hold expired) while the card was
	// charged. The listener of order.cancelled does the same; the keys make both safe. If the
	// refund fails now, the payment carries the cancellation flag and the sweeper retries.
	var rerr error
	if done.OrderCancelled {
		rerr = s.Refund(ctx, p.OrderID)
	} else {
		rerr = s.RefundIfCancelled(ctx, p.OrderID)
	}
	if rerr != nil {
		s.Log.WarnContext(ctx, "refund after a late success failed; it will be retried", "order_id", p.OrderID, "err", rerr)
	}
	cur, err := s.Store.Payment(ctx, p.ID)
	if err != nil {
		return Result{Payment: done}, nil
	}
	return s.result(cur)
}

func (s *Service) result(p payment.Payment) (Result, error) {
	if p.Status == payment.StatusRefunded {
		return Result{}, errs.New(errs.Conflict, "Order was cancelled while the card was charged; the payment was refunded")
	}
	return Result{Payment: p}, nil
}

// RefundIfCancelled refunds the order's payment when the replica says the order is cancelled.
func (s *Service) RefundIfCancelled(ctx context.Context, orderID string) error {
	o, err := s.Store.Order(ctx, orderID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.Status != payment.OrderCancelled {
		return nil
	}
	if err := s.Store.FlagOrderCancelled(ctx, orderID); err != nil {
		return err
	}
	return s.Refund(ctx, orderID)
}

// OrderCancelled records on the order's payment that the order is cancelled, then refunds it
// if it succeeded (ErrSettling while it is processing).
func (s *Service) OrderCancelled(ctx context.Context, orderID string) error {
	if err := s.Store.FlagOrderCancelled(ctx, orderID); err != nil {
		return err
	}
	return s.Refund(ctx, orderID)
}

// SweepRefunds refunds the succeeded payments of cancelled orders that a failure left
// unrefunded, and returns how many it refunded.
func (s *Service) SweepRefunds(ctx context.Context) (int, error) {
	due, err := s.Store.RefundsDue(ctx, 100)
	if err != nil {
		return 0, err
	}
	n := 0
	var errsSeen []error
	for _, p := range due {
		if err := s.Refund(ctx, p.OrderID); err != nil {
			errsSeen = append(errsSeen, err)
			continue
		}
		n++
	}
	return n, errors.Join(errsSeen...)
}

// RunSweeper calls SweepRefunds every interval until ctx ends.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if n, err := s.SweepRefunds(ctx); err != nil && ctx.Err() == nil {
				s.Log.WarnContext(ctx, "refund sweep", "refunded", n, "err", err)
			} else if n > 0 {
				s.Log.InfoContext(ctx, "refund sweep", "refunded", n)
			}
		}
	}
}

// Refund refunds the order's payment if it succeeded, publishing payment.refunded once. It
// returns ErrSettling while a charge is still processing, so that the caller tries again.
func (s *Service) Refund(ctx context.Context, orderID string) error {
	p, err := s.Store.PaymentByOrder(ctx, orderID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	switch p.Status {
	case payment.StatusProcessing:
		return ErrSettling
	case payment.StatusSucceeded:
	default:
		return nil
	}
	if _, err := s.Provider.Refund(ctx, provider.RefundRequest{OrderID: orderID, PaymentIntentID: p.StripeID,
		Reason: payment.RefundReason, IdempotencyKey: payment.RefundKey(orderID)}); err != nil {
		return fmt.Errorf("refund %s: %w", p.StripeID, err)
	}
	env, err := bus.NewEnvelopeWithID(ctx, "payment-refunded-"+p.ID, events.PaymentRefunded{
		ID: p.ID, OrderID: orderID, StripeID: p.StripeID, Reason: payment.RefundReason})
	if err != nil {
		return err
	}
	_, ok, err := s.Store.Refunded(ctx, p.ID, env)
	if err != nil {
		return err
	}
	if ok {
		paymentsTotal.WithLabelValues("refunded").Inc()
		s.Relay.Notify(p.ID, env)
		s.Log.InfoContext(ctx, "payment refunded: order cancelled", "payment_id", p.ID, "order_id", orderID, "payment_intent", p.StripeID)
	}
	return nil
}

// IntentSucceeded handles Stripe's payment_intent.succeeded for attempt n of an order's
// payment: the same effect as a confirmed charge, and idempotent with it.
func (s *Service) IntentSucceeded(ctx context.Context, orderID string, n int, intentID string) error {
	p, err := s.Store.PaymentByOrder(ctx, orderID)
	if errors.Is(err, store.ErrNotFound) {
		s.Log.WarnContext(ctx, "payment_intent.succeeded for an order without a payment; ignored", "order_id", orderID, "payment_intent", intentID)
		return nil
	}
	if err != nil {
		return err
	}
	if (p.Status == payment.StatusSucceeded || p.Status == payment.StatusRefunded) && p.StripeID == intentID {
		return s.RefundIfCancelled(ctx, orderID) // nothing unless a refund is still due
	}
	_, err = s.succeeded(ctx, p, n, intentID)
	if errs.Is(err, errs.Conflict) {
		return nil // recorded, then refunded, or a stray intent refunded
	}
	return err
}

// IntentFailed handles Stripe's payment_intent.payment_failed for attempt n: a charge still
// processing is marked failed. A PaymentIntent confirmed in the browser stays
// requires_payment_method, as at Stripe, where the customer may try another card on it.
func (s *Service) IntentFailed(ctx context.Context, orderID string, n int, intentID, message string) error {
	p, err := s.Store.PaymentByOrder(ctx, orderID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if message == "" {
		message = provider.DeclinedMessage
	}
	_, applied, err := s.Store.Fail(ctx, p.ID, n, intentID, message)
	if err != nil {
		return err
	}
	countFailure("failed", applied)
	return nil
}

// ParseAttempt reads the attempt number from PaymentIntent metadata.
func ParseAttempt(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

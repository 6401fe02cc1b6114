// Package app runs the payment flows: charging an order at most once whatever the number of
// concurrent or retried requests, completing a payment from Stripe's webhooks, keeping the
// replica of orders, and refunding a payment whose order was cancelled while its card was
// charged.
//
// Never charging twice rests on two things: the unique index on the payment's orderId (one
// payment per order) and the idempotency key "pay-<orderId>-<attempt>" (every request for an
// attempt sends the same key, and the processor charges a key at most once). A new attempt,
// with a new key, starts only from a failed one. The moves of a payment are the payment
// domain's transition table (payment.Next); the store writes each one conditionally on the
// state it was decided from, with its event.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"ticketing/common/bus"
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
	Currency string
	Log      *slog.Logger
	Now      func() time.Time // time.Now when nil
	// ReplicaWait is how long a request waits for a new order to reach the replica (the
	// client pays right after ordering, before order.created arrived); 3s when zero.
	ReplicaWait time.Duration
	// ReconcileBatch is how many unsettled payments one round of the reconciler looks at;
	// 100 when zero.
	ReconcileBatch int
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

// transition applies change to payment id (see store.UpdatePayment) and reports whether it
// applied. A change the domain refuses (payment.Refused: another attempt, or a status it
// does not apply to) is not an error: the payment comes back as it was read.
func (s *Service) transition(ctx context.Context, id string, change func(payment.Payment) (payment.Payment, error)) (payment.Payment, bool, error) {
	p, err := s.Store.UpdatePayment(ctx, id, change)
	switch {
	case payment.Refused(err):
		return p, false, nil
	case err != nil:
		return payment.Payment{}, false, err
	}
	return p, true, nil
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
			if !m.None() {
				return s.charge(ctx, p, m)
			}
			if _, keyless := s.Provider.(Receipts); !keyless {
				return s.prepare(ctx, p) // the same key: the processor returns the same intent
			}
			until := s.now().UTC().Truncate(time.Millisecond).Add(intentClaim)
			claimed, err := s.Store.ClaimIntent(ctx, p.ID, p.Attempt, s.now(), until)
			if err != nil {
				return Result{}, err
			}
			if claimed {
				res, err := s.prepare(ctx, p)
				if err != nil {
					if rerr := s.Store.ReleaseIntentClaim(context.WithoutCancel(ctx), p.ID, until); rerr != nil {
						s.Log.WarnContext(ctx, "release of an intent claim failed; it lapses by itself", "payment_id", p.ID, "err", rerr)
					}
				}
				return res, err
			}
			// Another request makes the provider order: wait for it, then answer it.
			if p, err = s.awaitChange(ctx, p); err != nil {
				return Result{}, err
			}
			continue
		case payment.StatusFailed:
			// The next attempt, or the payment as another request moved it meanwhile.
			n := p.Attempt
			if p, _, err = s.transition(ctx, p.ID, func(p payment.Payment) (payment.Payment, error) { return p.Retry(n) }); err != nil {
				return Result{}, err
			}
			continue
		}
		if p, err = s.Store.Payment(ctx, p.ID); err != nil {
			return Result{}, err
		}
	}
	return Result{}, payment.ErrInProgress
}

// intentClaim is how long a request may take to create a provider order without idempotency
// keys before another request may try.
const intentClaim = 15 * time.Second

// awaitChange waits, up to intentClaim, until payment p moves on from its status and attempt
// (another request creates its provider order), and returns it; ErrInProgress after that.
func (s *Service) awaitChange(ctx context.Context, p payment.Payment) (payment.Payment, error) {
	deadline := s.now().Add(intentClaim)
	for s.now().Before(deadline) {
		select {
		case <-ctx.Done():
			return payment.Payment{}, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
		cur, err := s.Store.Payment(ctx, p.ID)
		if err != nil {
			return payment.Payment{}, err
		}
		if cur.Status != p.Status || cur.Attempt != p.Attempt {
			return cur, nil
		}
	}
	return payment.Payment{}, payment.ErrInProgress
}

// order reads the replica's order. An id the orders service made moments ago (ids are
// time-ordered ObjectIDs) may not have reached the replica yet: wait for it a little rather
// than answer 404 to a client that pays right after ordering, reading again after growing
// pauses (ReplicaPolls: 7 reads in all for the default 3 s). Other ids answer at once.
func (s *Service) order(ctx context.Context, orderID string) (payment.Order, error) {
	wait := s.ReplicaWait
	if wait <= 0 {
		wait = 3 * time.Second
	}
	pauses := ReplicaPolls(wait)
	for i := 0; ; i++ {
		o, err := s.Store.Order(ctx, orderID)
		if !errors.Is(err, payment.ErrOrderNotFound) {
			return o, err
		}
		if i == len(pauses) || !payment.RecentID(orderID, s.now(), time.Minute) {
			return payment.Order{}, payment.ErrOrderNotFound
		}
		select {
		case <-ctx.Done():
			return payment.Order{}, ctx.Err()
		case <-time.After(pauses[i]):
		}
	}
}

// ReplicaPolls are the pauses between the reads of an order not replicated yet: 50 ms
// doubling, the last one cut so that they add up to wait. A replica a few milliseconds behind
// answers at the second read; one that is seconds behind costs a handful of reads, not one
// every 50 ms.
func ReplicaPolls(wait time.Duration) []time.Duration {
	var out []time.Duration
	var total time.Duration
	for d := 50 * time.Millisecond; total < wait; d *= 2 {
		d = min(d, wait-total)
		out = append(out, d)
		total += d
	}
	return out
}

// fail records that attempt n of payment id was declined or refused, and counts it once.
func (s *Service) fail(ctx context.Context, id string, n int, intentID, reason, outcome string) (bool, error) {
	_, applied, err := s.transition(ctx, id, func(p payment.Payment) (payment.Payment, error) {
		return p.Fail(n, intentID, reason)
	})
	if err != nil {
		return false, err
	}
	countFailure(outcome, applied)
	return applied, nil
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
		if _, ferr := s.fail(ctx, p.ID, p.Attempt, declined.IntentID, declined.Message, "declined"); ferr != nil {
			return Result{}, ferr
		}
		return Result{}, &payment.DeclinedError{Message: declined.Message, Err: err}
	case errors.As(err, &invalid):
		if _, ferr := s.fail(ctx, p.ID, p.Attempt, "", invalid.Message, "failed"); ferr != nil {
			return Result{}, ferr
		}
		return Result{}, &payment.RefusedError{Message: invalid.Message, Token: m.Token != "", Amount: invalid.Param == "amount", Err: err}
	case errors.Is(err, provider.ErrIdempotency):
		return Result{}, fmt.Errorf("%w: %w", payment.ErrInProgress, err)
	case err != nil:
		// The outcome is unknown: the payment stays processing and a retry sends the same key.
		return Result{}, fmt.Errorf("%w: %w", payment.ErrUnavailable, err)
	}
	switch in.Status {
	case provider.StatusSucceeded:
		return s.succeeded(ctx, p, p.Attempt, in.ID)
	case provider.StatusProcessing:
		// Not for cards; the webhook settles it, or the reconciler if it never comes (the
		// intent's id is kept for it). The client sees status processing.
		if _, _, err := s.transition(ctx, p.ID, func(p payment.Payment) (payment.Payment, error) {
			return p.Pending(p.Attempt, in.ID)
		}); err != nil {
			return Result{}, err
		}
		p.StripeID = in.ID
		return Result{Payment: p}, nil
	default:
		if _, err := s.fail(ctx, p.ID, p.Attempt, in.ID, "payment intent "+string(in.Status), "declined"); err != nil {
			return Result{}, err
		}
		return Result{}, &payment.DeclinedError{Message: provider.DeclinedMessage,
			Err: fmt.Errorf("payment intent %s is %s", in.ID, in.Status)}
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
		return Result{}, fmt.Errorf("%w: %w", payment.ErrInProgress, err)
	case err != nil:
		return Result{}, fmt.Errorf("%w: %w", payment.ErrUnavailable, err)
	}
	if p.Status == payment.StatusProcessing {
		next, ok, err := s.transition(ctx, p.ID, func(p payment.Payment) (payment.Payment, error) {
			return p.AwaitClient(p.Attempt, in.ID)
		})
		if err != nil {
			return Result{}, err
		}
		if !ok && (next.Status != payment.StatusRequiresPaymentMethod || next.StripeID != in.ID) {
			if next.Status == payment.StatusSucceeded {
				return Result{Payment: next}, nil
			}
			return Result{}, payment.ErrInProgress
		}
		p = next
	}
	return Result{Payment: p, ClientSecret: in.ClientSecret}, nil
}

// succeeded records that attempt n of p charged PaymentIntent intentID, with payment.created
// in the same write, then refunds at once if the order was cancelled meanwhile.
func (s *Service) succeeded(ctx context.Context, p payment.Payment, n int, intentID string) (Result, error) {
	done, ok, err := s.transition(ctx, p.ID, func(p payment.Payment) (payment.Payment, error) { return p.Succeed(n, intentID) })
	if err != nil {
		return Result{}, err
	}
	if !ok {
		if done.Settled(intentID) {
			return s.result(done)
		}
		// Money moved on an intent that is not this payment's current attempt (it cannot
		// happen through this service's flows): give it back rather than keep it unrecorded.
		s.Log.ErrorContext(ctx, "a payment intent succeeded that is not the order's payment; refunding it",
			"order_id", p.OrderID, "payment_id", p.ID, "payment_intent", intentID, "attempt", n,
			"current_attempt", done.Attempt, "status", done.Status)
		if _, err := s.Provider.Refund(ctx, provider.RefundRequest{OrderID: p.OrderID, PaymentIntentID: intentID,
			Reason: "duplicate", IdempotencyKey: "refund-" + intentID}); err != nil {
			return Result{}, err
		}
		return Result{}, payment.ErrInProgress
	}
	paymentsTotal.WithLabelValues("succeeded").Inc()
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
		return Result{}, payment.ErrRefundedLate
	}
	return Result{Payment: p}, nil
}

// RefundIfCancelled refunds the order's payment when the replica says the order is cancelled.
func (s *Service) RefundIfCancelled(ctx context.Context, orderID string) error {
	o, err := s.Store.Order(ctx, orderID)
	if errors.Is(err, payment.ErrOrderNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.Status != events.OrderStatusCancelled {
		return nil
	}
	if paid, err := s.Store.FlagOrderCancelled(ctx, orderID); err != nil || !paid {
		return err
	}
	return s.Refund(ctx, orderID)
}

// AddOrder adds an order to the replica (order.created); a redelivery is a Duplicate.
func (s *Service) AddOrder(ctx context.Context, e events.OrderCreated) (bus.Outcome, error) {
	status := e.Status
	if status == "" {
		status = events.OrderStatusCreated
	}
	return s.Store.InsertOrder(ctx, payment.Order{ID: e.ID, UserID: e.UserID, PriceCents: e.Ticket.PriceCents,
		Status: status, Version: e.Version, ExpiresAt: e.ExpiresAt, TicketID: e.Ticket.ID})
}

// OrderUpdated applies a live order's new status and deadline (a payment started or failed)
// to the replica, in version order: payments are accepted until the new deadline.
func (s *Service) OrderUpdated(ctx context.Context, e events.OrderUpdated) (bus.Outcome, error) {
	return s.Store.UpdateOrder(ctx, e.ID, e.Version, e.Status, e.ExpiresAt)
}

// OrderCompleted applies the order's completion to the replica, in version order.
func (s *Service) OrderCompleted(ctx context.Context, id string, version int64) (bus.Outcome, error) {
	return s.Store.SetOrderStatus(ctx, id, version, events.OrderStatusComplete)
}

// OrderCancelled applies the order's cancellation to the replica, in version order, then
// records on the order's payment that the order is cancelled and refunds it if it succeeded
// (ErrSettling while it is processing: look again once the charge settled; the charge's own
// path also refunds when it sees the order cancelled, so the refund happens whichever comes
// last).
func (s *Service) OrderCancelled(ctx context.Context, id string, version int64) (bus.Outcome, error) {
	out, err := s.Store.SetOrderStatus(ctx, id, version, events.OrderStatusCancelled)
	if err != nil || out == bus.NotYet {
		return out, err
	}
	if out == bus.Duplicate {
		// Redelivered, maybe after ErrSettling: refund only if the order is still cancelled.
		o, err := s.Store.Order(ctx, id)
		if err != nil {
			return out, err
		}
		if o.Status != events.OrderStatusCancelled {
			return out, nil
		}
	}
	// No payment yet: none to refund. One that starts later sees the order cancelled in the
	// replica once it succeeds, and refunds itself.
	if paid, err := s.Store.FlagOrderCancelled(ctx, id); err != nil || !paid {
		return out, err
	}
	return out, s.Refund(ctx, id)
}

// SweepRefunds refunds the succeeded payments of cancelled orders that a failure left
// unrefunded (one round of the refund sweeper, which runs every REFUND_SWEEP_INTERVAL).
func (s *Service) SweepRefunds(ctx context.Context) error {
	due, err := s.Store.RefundsDue(ctx, 100)
	if err != nil {
		return err
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
	if n > 0 {
		s.Log.InfoContext(ctx, "refund sweep", "refunded", n)
	}
	return errors.Join(errsSeen...)
}

// Refund refunds the order's payment if it succeeded, publishing payment.refunded once. It
// returns ErrSettling while a charge is still processing, so that the caller tries again.
func (s *Service) Refund(ctx context.Context, orderID string) error {
	p, err := s.Store.PaymentByOrder(ctx, orderID)
	if errors.Is(err, payment.ErrNotFound) {
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
	_, ok, err := s.transition(ctx, p.ID, payment.Payment.Refund)
	if err != nil {
		return err
	}
	if ok {
		paymentsTotal.WithLabelValues("refunded").Inc()
		s.Log.InfoContext(ctx, "payment refunded: order cancelled", "payment_id", p.ID, "order_id", orderID, "payment_intent", p.StripeID)
	}
	return nil
}

// IntentEvent is a verified Stripe event about one of the service's PaymentIntents.
type IntentEvent struct {
	ID        string // Stripe's event id
	Type      string
	Succeeded bool   // payment_intent.succeeded; else payment_intent.payment_failed
	OrderID   string // the intent's metadata
	Attempt   int
	IntentID  string
	// Kept is the id the payment keeps for the attempt when it is not IntentID: the Razorpay
	// order of a Razorpay payment (IntentID is then the pay_ id). "" for Stripe.
	Kept    string
	Message string // why a failed intent failed
}

// HandleIntentEvent applies a Stripe event once: the same effect as the charge's own path
// for a success, a failed attempt for a failure. An event already handled changes nothing.
func (s *Service) HandleIntentEvent(ctx context.Context, e IntentEvent) error {
	seen, err := s.Store.WebhookSeen(ctx, e.ID)
	if err != nil || seen {
		return err
	}
	if e.Succeeded {
		_, err = s.intentSucceeded(ctx, e.OrderID, e.Attempt, e.IntentID)
	} else {
		_, err = s.intentFailed(ctx, e.ID, e.OrderID, e.Attempt, cmp.Or(e.Kept, e.IntentID), e.IntentID, e.Message)
	}
	if err != nil {
		return err
	}
	// After the effect, which is idempotent: a crash in between handles the event again on
	// Stripe's retry, to the same result.
	if _, err := s.Store.MarkWebhook(ctx, e.ID, e.Type); err != nil {
		return err
	}
	s.Log.InfoContext(ctx, "webhook handled", "stripe_event", e.ID, "type", e.Type, "order_id", e.OrderID)
	return nil
}

// intentSucceeded handles Stripe's payment_intent.succeeded for attempt n of an order's
// payment: the same effect as a confirmed charge, and idempotent with it. It reports whether
// the payment succeeded now (false: it had already, or it is not here).
func (s *Service) intentSucceeded(ctx context.Context, orderID string, n int, intentID string) (bool, error) {
	p, err := s.Store.PaymentByOrder(ctx, orderID)
	if errors.Is(err, payment.ErrNotFound) {
		s.Log.WarnContext(ctx, "payment_intent.succeeded for an order without a payment; ignored", "order_id", orderID, "payment_intent", intentID)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if p.Settled(intentID) {
		return false, s.RefundIfCancelled(ctx, orderID) // nothing unless a refund is still due
	}
	_, err = s.succeeded(ctx, p, n, intentID)
	if errors.Is(err, payment.ErrRefundedLate) || errors.Is(err, payment.ErrInProgress) {
		return true, nil // recorded, then refunded, or a stray intent refunded
	}
	return err == nil, err
}

// intentFailed handles Stripe's event eventID, payment_intent.payment_failed for attempt n: a
// charge still processing is marked failed. A PaymentIntent confirmed in the browser stays
// requires_payment_method, as at Stripe, where the customer may try another card on it; the
// decline is announced all the same (payment.failed), so that the order stops waiting.
// kept is the id the payment keeps for the attempt (the PaymentIntent; the Razorpay order,
// whose failed payment is intentID). It reports whether a write applied.
func (s *Service) intentFailed(ctx context.Context, eventID, orderID string, n int, kept, intentID, message string) (bool, error) {
	p, err := s.Store.PaymentByOrder(ctx, orderID)
	if errors.Is(err, payment.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if message == "" {
		message = provider.DeclinedMessage
	}
	if p.Status == payment.StatusRequiresPaymentMethod {
		if p.Failure == message && p.StripeID == kept {
			return false, nil // this decline was recorded already (the reconciler saw it first)
		}
		next, err := p.DeclineInBrowser(n, message)
		if payment.Refused(err) {
			return false, nil
		}
		return s.Store.RecordDecline(ctx, next, eventID)
	}
	return s.fail(ctx, p.ID, n, intentID, message, "failed")
}

// reconcileBatch is how many unsettled payments one round of the reconciler looks at by
// default (Service.ReconcileBatch), and reconcileWindow how old a payment may be and still be
// looked at (an intent abandoned in the browser is not asked about forever).
const (
	reconcileBatch  = 100
	reconcileWindow = 7 * 24 * time.Hour
)

// Reconcile settles the payments that have waited on the processor for longer than after
// (processing, or requires_payment_method: paid in the browser) by asking the processor
// (provider.Lookup), for when their webhook never came: a succeeded intent succeeds as
// payment_intent.succeeded would (payment.created, a refund if the order was cancelled), a
// failed one fails as payment_intent.payment_failed would (payment.failed), through the same
// calls, so that a webhook arriving later finds its effect applied and changes nothing. A
// payment the processor still has pending is looked at again after another after. One round
// of the reconciler, which runs every PAYMENT_RECONCILE_INTERVAL.
func (s *Service) Reconcile(ctx context.Context, after time.Duration) error {
	now := s.now()
	due, err := s.Store.Unsettled(ctx, now.Add(-after), now.Add(-reconcileWindow), int64(cmp.Or(s.ReconcileBatch, reconcileBatch)))
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range due {
		if err := s.reconcile(ctx, p); err != nil {
			errs = append(errs, fmt.Errorf("reconcile payment %s of order %s: %w", p.ID, p.OrderID, err))
		}
	}
	return errors.Join(errs...)
}

// reconcile settles p as the processor has it now. A payment that this does not settle (the
// processor still waits, cannot tell of it, or has what is recorded already) is touched, so
// that it is looked at again only after another after and the payments behind it in
// Unsettled get their turn.
func (s *Service) reconcile(ctx context.Context, p payment.Payment) error {
	applied, err := s.settle(ctx, p)
	if applied {
		return err
	}
	return errors.Join(err, s.Store.Touch(ctx, p))
}

// settle applies what the processor has of p, and reports whether a write applied.
func (s *Service) settle(ctx context.Context, p payment.Payment) (bool, error) {
	in, err := s.Provider.Lookup(ctx, p.StripeID)
	if err != nil {
		return false, err
	}
	log := s.Log.With("payment_id", p.ID, "order_id", p.OrderID, "payment_intent", p.StripeID, "processor_status", in.Status)
	var outcome string
	var applied bool
	switch {
	case in.Status == provider.StatusSucceeded:
		outcome = "succeeded"
		applied, err = s.intentSucceeded(ctx, p.OrderID, p.Attempt, in.ID)
	case in.Status == provider.StatusCanceled,
		in.Failure != "" && (in.Status == provider.StatusRequiresPaymentMethod) && (p.Status == payment.StatusProcessing || in.Failure != p.Failure):
		outcome = "failed"
		reason := cmp.Or(in.Failure, "payment intent "+string(in.Status))
		log = log.With("reason", reason)
		applied, err = s.intentFailed(ctx, "reconcile-"+in.ID+"-"+strconv.Itoa(p.Attempt), p.OrderID, p.Attempt, p.StripeID, in.ID, reason)
	}
	if applied {
		log.InfoContext(ctx, "reconciled: the payment settled at the processor without a webhook", "outcome", outcome)
		paymentsReconciledTotal.WithLabelValues(outcome).Inc()
	}
	return applied, err
}

// Receipts is a provider whose orders name the attempt they were made for (Razorpay).
type Receipts interface {
	Receipt(ctx context.Context, providerOrderID string) (orderID string, attempt int, err error)
}

// RazorpayEvent is a verified Razorpay webhook about a payment for one of its orders.
type RazorpayEvent struct {
	ID              string // X-Razorpay-Event-Id
	Type            string
	Succeeded       bool // payment.captured or order.paid; else payment.failed
	RazorpayOrderID string
	PaymentID       string
	Message         string
}

// HandleRazorpayEvent applies a Razorpay webhook once (by its event id), as a Stripe event:
// the attempt is the one the Razorpay order's receipt names. An order this service did not
// make is ignored.
func (s *Service) HandleRazorpayEvent(ctx context.Context, e RazorpayEvent) error {
	orderID, attempt, err := s.receipt(ctx, e.RazorpayOrderID)
	if errors.Is(err, provider.ErrNotOurs) {
		s.Log.WarnContext(ctx, "razorpay webhook for an order this service did not make; ignored", "razorpay_order", e.RazorpayOrderID)
		return nil
	}
	if err != nil {
		return err
	}
	return s.HandleIntentEvent(ctx, IntentEvent{ID: "razorpay-" + e.ID, Type: e.Type, Succeeded: e.Succeeded,
		OrderID: orderID, Attempt: attempt, IntentID: e.PaymentID, Kept: e.RazorpayOrderID, Message: e.Message})
}

// RazorpayPaid records Razorpay payment paymentID, which Checkout made for Razorpay order
// razorpayOrderID and whose signature the caller verified, as the success of userID's
// payment: the same effect as the webhook, and idempotent with it. Errors: ErrNotFound
// (no such payment of ours), ErrNotOwner.
func (s *Service) RazorpayPaid(ctx context.Context, userID, razorpayOrderID, paymentID string) (Result, error) {
	orderID, attempt, err := s.receipt(ctx, razorpayOrderID)
	if errors.Is(err, provider.ErrNotOurs) {
		return Result{}, payment.ErrNotFound
	}
	if err != nil {
		return Result{}, err
	}
	p, err := s.Store.PaymentByOrder(ctx, orderID)
	if err != nil {
		return Result{}, err
	}
	if p.UserID != userID {
		return Result{}, payment.ErrNotOwner
	}
	if p.Settled(paymentID) {
		return s.result(p)
	}
	return s.succeeded(ctx, p, attempt, paymentID)
}

func (s *Service) receipt(ctx context.Context, providerOrderID string) (string, int, error) {
	r, ok := s.Provider.(Receipts)
	if !ok {
		return "", 0, provider.ErrNotOurs
	}
	orderID, attempt, err := r.Receipt(ctx, providerOrderID)
	if err != nil && !errors.Is(err, provider.ErrNotOurs) {
		return "", 0, fmt.Errorf("%w: %w", payment.ErrUnavailable, err)
	}
	return orderID, attempt, err
}

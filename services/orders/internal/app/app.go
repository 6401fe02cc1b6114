// Package app runs the order workflows over the store: place an order by taking the
// ticket's hold, cancel or expire it and release the hold, complete it on payment after
// making the hold permanent, sweep the expiries that were lost, and keep the replica of
// tickets. The order of the writes in each workflow is what guarantees that a ticket is
// never held by two live orders and that a paid order is never cancelled; see the comment of
// each method. The rules themselves are the order domain's (order.Next, order.Hold).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"ticketing/common/authn"
	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/services/orders/internal/order"
	"ticketing/services/orders/internal/store"
)

// sweepBatch is how many overdue orders one query of the sweeper reads.
const sweepBatch = 100

// Options configure a Service.
type Options struct {
	Window    time.Duration // EXPIRATION_WINDOW: expiresAt = now + Window
	HoldGrace time.Duration // HOLD_GRACE: the hold lapses at expiresAt + HoldGrace
	// PaymentGrace (PAYMENT_GRACE) is how long a payment that starts is waited for: the
	// order's deadline becomes max(expiresAt, start + PaymentGrace), once.
	PaymentGrace time.Duration
	Now          func() time.Time // time.Now by default
	Logger       *slog.Logger     // slog.Default() by default
	// Passes verifies the waiting room's passes (QUEUE_PUBLIC_KEY); without it no ticket of an
	// event can be ordered.
	Passes *authn.PassVerifier
}

// Service runs the workflows.
type Service struct {
	store *store.Store
	opts  Options
	log   *slog.Logger
}

// New is a Service over st.
func New(st *store.Store, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{store: st, opts: opts, log: opts.Logger}
}

// now is the current time in UTC at BSON's millisecond precision, so that what a caller is
// told equals what is stored.
func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

// Create places an order of userID for ticketID; pass is the queue pass the request carried
// ("" for none), needed for a ticket of an event.
//
// The hold is taken first, by one conditional write on the ticket replica that matches only
// a free ticket; then the order is inserted with order.created in its outbox. If the insert
// fails the hold is released; if the process dies in between, the hold lapses by itself at
// expiresAt + HoldGrace. For a ticket of an event, the sale must be open and the pass valid
// for this user and event, and the hold also takes one of the user's slots in the event's
// limit, in the same store call (store.HoldWithin). Errors: order.ErrTicketNotFound,
// order.ErrOwnTicket (userID sells the ticket), order.ErrTicketReserved, order.ErrNotOnSale,
// order.ErrPassRequired, order.ErrLimitReached.
func (s *Service) Create(ctx context.Context, userID, ticketID, pass string) (order.Order, error) {
	// A client that hangs up must not leave a hold behind: the writes finish regardless
	// (each is bounded by the driver's timeout).
	wctx := context.WithoutCancel(ctx)
	now := s.now()
	o := order.New(store.NewID(), userID, order.Ticket{}, now, s.opts.Window)
	hold := order.HoldFor(o, s.opts.HoldGrace)
	t, slot, err := s.hold(wctx, userID, ticketID, pass, hold, now)
	if errors.Is(err, order.ErrTicketReserved) {
		holdsTotal.WithLabelValues("refused").Inc()
	}
	if err != nil {
		return order.Order{}, err
	}
	holdsTotal.WithLabelValues("taken").Inc()
	o.Ticket, o.Slot = t, slot
	if err := s.store.InsertOrder(wctx, o); err != nil {
		if rerr := s.release(wctx, o); rerr != nil {
			s.log.WarnContext(ctx, "release of the hold of an order that was not stored failed; it lapses by itself",
				"order_id", o.ID, "ticket_id", t.ID, "err", rerr)
		}
		return order.Order{}, err
	}
	ordersTotal.WithLabelValues(string(events.OrderStatusCreated), "").Inc()
	return o, nil
}

// hold takes hold on ticketID for userID: a ticket of no event as it is (one write); a
// ticket of an event once its sale is open, with a valid pass, and within the user's limit
// (it returns the slot of the limit taken, "" for a ticket of no event).
func (s *Service) hold(ctx context.Context, userID, ticketID, pass string, hold order.Hold, now time.Time) (order.Ticket, string, error) {
	t, err := s.store.Hold(ctx, ticketID, userID, hold, now)
	if !errors.Is(err, store.ErrOfEvent) {
		return t, "", err
	}
	sale, err := s.store.Sale(ctx, t.EventID)
	if err == nil {
		err = sale.Open(now)
	}
	if err != nil {
		return order.Ticket{}, "", err
	}
	if _, err := s.opts.Passes.Verify(pass, userID, sale.EventID); err != nil {
		return order.Ticket{}, "", fmt.Errorf("%w: %w", order.ErrPassRequired, err)
	}
	return s.store.HoldWithin(ctx, sale, userID, ticketID, hold, now)
}

// Get is userID's order id. Errors: order.ErrNotFound, order.ErrForbidden.
func (s *Service) Get(ctx context.Context, userID, id string) (order.Order, error) {
	o, err := s.store.Order(ctx, id)
	if err != nil {
		return order.Order{}, err
	}
	if err := o.VisibleTo(userID); err != nil {
		return order.Order{}, err
	}
	return o, nil
}

// List is userID's orders, newest first, at most limit, older than after when given.
func (s *Service) List(ctx context.Context, userID, after string, limit int) ([]order.Order, error) {
	return s.store.ListByUser(ctx, userID, after, limit)
}

// Cancel cancels userID's order id. Cancelling a cancelled order succeeds again. Errors:
// order.ErrNotFound, order.ErrForbidden, order.ErrComplete.
func (s *Service) Cancel(ctx context.Context, userID, id string) error {
	return s.cancel(context.WithoutCancel(ctx), id, causeUser, func(o order.Order) (order.Order, error) {
		if err := o.VisibleTo(userID); err != nil {
			return o, err
		}
		return o.Apply(order.CancelByUser, s.now())
	})
}

// Expire cancels order id because its reservation window ended, unless it is complete (then
// nothing changes). Errors: order.ErrNotFound, order.ErrTooEarly while the window lasts.
func (s *Service) Expire(ctx context.Context, id string) error {
	return s.ExpireJob(ctx, id, time.Time{})
}

// ExpireJob is Expire for the expiry job scheduled for deadline scheduled (zero: unknown). A
// job for a deadline earlier than the order's, which was extended since, is stale: it
// changes nothing (the job of the new deadline expires the order).
func (s *Service) ExpireJob(ctx context.Context, id string, scheduled time.Time) error {
	stale := false
	err := s.cancel(ctx, id, causeExpired, func(o order.Order) (order.Order, error) {
		stale = false
		if o.Status.Live() {
			if err := o.CheckExpiry(s.opts.Now()); err != nil {
				if !scheduled.IsZero() && scheduled.Before(o.ExpiresAt) {
					stale = true
					return o, nil
				}
				return o, err
			}
		}
		return o.Apply(order.Expire, s.now())
	})
	if stale {
		s.log.DebugContext(ctx, "expiry of a deadline the order no longer has; dropped", "order_id", id, "scheduled", scheduled)
	}
	return err
}

// cancel applies change (CancelByUser, Expire or a payment's failure after the order's
// deadline) to order id; cause says why, for the metrics and the log.
//
// The status changes first, in one write conditional on the status and version read; then
// the hold is released, conditional on this order still holding the ticket. The release
// also runs when the order was already cancelled, to heal a crash between the two writes.
func (s *Service) cancel(ctx context.Context, id string, cause string, change func(order.Order) (order.Order, error)) error {
	var changed bool
	o, err := s.store.UpdateOrder(ctx, id, func(o order.Order) (order.Order, error) {
		next, err := change(o)
		changed = next.Version != o.Version
		return next, err
	})
	if err != nil {
		return err
	}
	if o.Status != events.OrderStatusCancelled {
		return nil // complete or live: nothing to release
	}
	if changed {
		ordersTotal.WithLabelValues(string(events.OrderStatusCancelled), cause).Inc()
		s.log.InfoContext(ctx, "order cancelled", "order_id", o.ID, "ticket_id", o.Ticket.ID, "cause", cause)
	}
	return s.release(ctx, o)
}

// release frees what order o holds: its ticket, and its slot in the event's limit.
func (s *Service) release(ctx context.Context, o order.Order) error {
	_, err := s.store.ReleaseHold(ctx, o.Ticket.ID, o.ID)
	return errors.Join(err, s.releaseSlot(ctx, o))
}

// releaseSlot frees o's slot in its event's limit: a cancelled or complete order is not live.
func (s *Service) releaseSlot(ctx context.Context, o order.Order) error {
	if o.Ticket.EventID == "" {
		return nil
	}
	return s.store.ReleaseSlot(ctx, o.Slot, o.ID)
}

// Pay completes order id after its payment succeeded.
//
// First the hold is made permanent, conditional on this order still holding the ticket;
// then the status changes to complete, conditional on the status and version read. So:
//   - an order cancelled meanwhile stays cancelled and its hold is released again (payments
//     refunds it on order.cancelled);
//   - an order whose hold lapsed and was taken by another order is cancelled (and refunded):
//     the ticket is never held by two live orders;
//   - a complete order never loses its hold, so a paid order is never cancelled.
//
// Errors: order.ErrNotFound (the order is not here yet).
func (s *Service) Pay(ctx context.Context, id string) error {
	o, err := s.store.Order(ctx, id)
	if err != nil {
		return err
	}
	next, err := o.Apply(order.Pay, s.now())
	if errors.Is(err, order.ErrCancelled) {
		return s.paidCancelled(ctx, o)
	}
	if err != nil {
		return err
	}
	if next.Version == o.Version {
		return nil // complete already: a redelivered payment.created
	}
	if held, err := s.extendHold(ctx, o, order.Hold{OrderID: o.ID}.Permanent()); !held {
		return err
	}
	var changed bool
	o, err = s.store.UpdateOrder(ctx, id, func(o order.Order) (order.Order, error) {
		next, err := o.Apply(order.Pay, s.now())
		changed = next.Version != o.Version
		return next, err
	})
	if errors.Is(err, order.ErrCancelled) {
		return s.paidCancelled(ctx, o) // cancelled since it was read
	}
	if err != nil {
		return err
	}
	if changed {
		ordersTotal.WithLabelValues(string(events.OrderStatusComplete), "").Inc()
		s.log.InfoContext(ctx, "order complete", "order_id", o.ID, "ticket_id", o.Ticket.ID)
	}
	return s.releaseSlot(ctx, o)
}

// extendHold extends o's hold on its ticket to h (a payment started or succeeded) and
// reports whether o still holds the ticket. When it does not (its hold lapsed and another
// order took the ticket), o is cancelled: the ticket is never held by two live orders, and
// payments refunds a payment that lands; the error is that of the cancellation.
//
// A temporary extension (a payment started) extends o's slot in its event's limit too, so that
// the order stays counted as live for as long as it holds the ticket; a permanent one (paid)
// leaves the slot, which the completion releases.
func (s *Service) extendHold(ctx context.Context, o order.Order, h order.Hold) (bool, error) {
	held, err := s.store.ExtendHold(ctx, o.Ticket.ID, h)
	if err == nil && held && o.Ticket.EventID != "" && !h.IsPermanent() {
		err = s.store.ExtendSlot(ctx, o.Slot, h)
	}
	if err != nil || held {
		return held, err
	}
	s.log.WarnContext(ctx, "payment for an order whose hold was lost; cancelling the order so that payments refunds it",
		"order_id", o.ID, "ticket_id", o.Ticket.ID)
	return false, s.cancel(ctx, o.ID, causeLostHold, func(o order.Order) (order.Order, error) {
		return o.Apply(order.Expire, s.now())
	})
}

// StartPayment holds order id for attempt n of its payment, which started: the order moves
// to awaiting:payment and its deadline to max(expiresAt, now + PaymentGrace), once per order
// (order.Order.StartPayment). A settled order, or an attempt already seen, changes nothing.
//
// The hold on the ticket is extended first, conditional on this order still holding it, so
// that the hold never ends before the deadline the order announces; an order whose hold
// lapsed and was taken is cancelled (its payment is refunded if it lands). Errors:
// order.ErrNotFound (the order is not here yet).
func (s *Service) StartPayment(ctx context.Context, id string, n int) error {
	o, err := s.store.Order(ctx, id)
	if err != nil {
		return err
	}
	next, err := o.StartPayment(n, s.now(), s.opts.PaymentGrace)
	if err != nil || next.Version == o.Version {
		return err
	}
	if held, err := s.extendHold(ctx, o, order.HoldFor(next, s.opts.HoldGrace)); !held {
		return err
	}
	o, err = s.store.UpdateOrder(ctx, id, func(o order.Order) (order.Order, error) {
		return o.StartPayment(n, s.now(), s.opts.PaymentGrace)
	})
	if err != nil {
		return err
	}
	if o.Status == events.OrderStatusAwaitingPayment {
		s.log.InfoContext(ctx, "order awaits its payment", "order_id", o.ID, "attempt", n, "expires_at", o.ExpiresAt)
	}
	return nil
}

// FailPayment returns order id to created with its original deadline after attempt n of its
// payment failed, or expires it (releasing the hold) when that deadline has passed. Errors:
// order.ErrNotFound, order.ErrAttemptNotStarted (the attempt's start is not applied yet).
func (s *Service) FailPayment(ctx context.Context, id string, n int) error {
	return s.cancel(ctx, id, causeExpired, func(o order.Order) (order.Order, error) {
		return o.FailPayment(n, s.now())
	})
}

// TicketChanged cancels order id, whose ticket the tickets service refused to reserve
// (ticket.refused): the seller edited it after this service's replica saw it, so the order's
// price and title are not the ticket's. A paid order is cancelled too (order.Next): payments
// refunds it on order.cancelled, as any payment of a cancelled order; the hold is released.
// A cancelled order changes nothing.
//
// edited is the version of the edit the refusal names (of ticket ticketID): until the replica
// holds it, nothing changes, so that the released ticket is never held again at the details
// the order was refused for. Errors: order.ErrReplicaBehind (the replica has not applied the
// edit yet), order.ErrNotFound (the order is not here yet).
func (s *Service) TicketChanged(ctx context.Context, id, ticketID string, edited int64) error {
	r, err := s.store.Replica(ctx, ticketID)
	if errors.Is(err, order.ErrTicketNotFound) || err == nil && r.Ticket.Version < edited {
		return order.ErrReplicaBehind
	}
	if err != nil {
		return err
	}
	return s.cancel(ctx, id, causeTicketChanged, func(o order.Order) (order.Order, error) {
		return o.Apply(order.TicketChanged, s.now())
	})
}

// Refunded records in order id's history that its payment was refunded.
func (s *Service) Refunded(ctx context.Context, id string) error {
	return s.store.AddToHistory(ctx, id, order.CauseRefunded, s.now())
}

// paidCancelled handles a payment for a cancelled order: payments refunds it, and the hold
// is released again.
func (s *Service) paidCancelled(ctx context.Context, o order.Order) error {
	s.log.InfoContext(ctx, "payment for a cancelled order; payments refunds it", "order_id", o.ID)
	return s.release(ctx, o)
}

// Sweep expires up to limit live orders whose expiresAt passed more than grace ago: the
// expiry jobs that were lost. It returns how many it cancelled.
func (s *Service) Sweep(ctx context.Context, grace time.Duration, limit int) (int, error) {
	due, err := s.store.Overdue(ctx, s.opts.Now().Add(-grace), limit)
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, o := range due {
		if err := s.Expire(ctx, o.ID); err != nil {
			errs = append(errs, fmt.Errorf("expire %s: %w", o.ID, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// SweepAll sweeps in batches until no overdue order is left (one round of the sweeper,
// which runs every SWEEP_INTERVAL).
func (s *Service) SweepAll(ctx context.Context, grace time.Duration) error {
	for {
		n, err := s.Sweep(ctx, grace, sweepBatch)
		if n > 0 {
			s.log.InfoContext(ctx, "swept orders whose expiry was missed", "count", n)
		}
		if n < sweepBatch || err != nil {
			return err
		}
	}
}

// AddTicket adds a ticket to the replica, free (ticket.created).
func (s *Service) AddTicket(ctx context.Context, t order.Ticket) (bus.Outcome, error) {
	return s.store.InsertTicket(ctx, t)
}

// AddSale keeps what event.created says of an event's sale.
func (s *Service) AddSale(ctx context.Context, sale order.Sale, version int64) (bus.Outcome, error) {
	return s.store.InsertSale(ctx, sale, version)
}

// UpdateTicket applies version t.Version of a ticket to the replica when it holds an
// earlier version (ticket.updated). The hold is this service's and stays as it is.
func (s *Service) UpdateTicket(ctx context.Context, t order.Ticket) (bus.Outcome, error) {
	return s.store.ApplyTicketVersion(ctx, t)
}

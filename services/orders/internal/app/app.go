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

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/services/orders/internal/order"
	"ticketing/services/orders/internal/store"
)

// sweepBatch is how many overdue orders one query of the sweeper reads.
const sweepBatch = 100

// Options configure a Service.
type Options struct {
	Window    time.Duration    // EXPIRATION_WINDOW: expiresAt = now + Window
	HoldGrace time.Duration    // HOLD_GRACE: the hold lapses at expiresAt + HoldGrace
	Now       func() time.Time // time.Now by default
	Logger    *slog.Logger     // slog.Default() by default
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

// Create places an order of userID for ticketID.
//
// The hold is taken first, by one conditional write on the ticket replica that matches only
// a free ticket; then the order is inserted with order.created in its outbox. If the insert
// fails the hold is released; if the process dies in between, the hold lapses by itself at
// expiresAt + HoldGrace. Errors: order.ErrTicketNotFound, order.ErrOwnTicket (userID sells
// the ticket), order.ErrTicketReserved.
func (s *Service) Create(ctx context.Context, userID, ticketID string) (order.Order, error) {
	// A client that hangs up must not leave a hold behind: the writes finish regardless
	// (each is bounded by the driver's timeout).
	wctx := context.WithoutCancel(ctx)
	now := s.now()
	o := order.New(store.NewID(), userID, order.Ticket{}, now, s.opts.Window)
	t, err := s.store.Hold(wctx, ticketID, userID, order.HoldFor(o, s.opts.HoldGrace), now)
	if errors.Is(err, order.ErrTicketReserved) {
		holdsTotal.WithLabelValues("refused").Inc()
	}
	if err != nil {
		return order.Order{}, err
	}
	holdsTotal.WithLabelValues("taken").Inc()
	o.Ticket = t
	if err := s.store.InsertOrder(wctx, o); err != nil {
		if _, rerr := s.store.ReleaseHold(wctx, t.ID, o.ID); rerr != nil {
			s.log.WarnContext(ctx, "release of the hold of an order that was not stored failed; it lapses by itself",
				"order_id", o.ID, "ticket_id", t.ID, "err", rerr)
		}
		return order.Order{}, err
	}
	ordersTotal.WithLabelValues(string(events.OrderStatusCreated), "").Inc()
	return o, nil
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
	return s.cancel(context.WithoutCancel(ctx), id, order.CancelByUser, causeUser, func(o order.Order) error {
		return o.VisibleTo(userID)
	})
}

// Expire cancels order id because its reservation window ended, unless it is complete (then
// nothing changes). Errors: order.ErrNotFound, order.ErrTooEarly while the window lasts.
func (s *Service) Expire(ctx context.Context, id string) error {
	return s.cancel(ctx, id, order.Expire, causeExpired, func(o order.Order) error {
		if o.Status.Live() {
			return o.CheckExpiry(s.opts.Now())
		}
		return nil
	})
}

// cancel applies ev (CancelByUser or Expire) to order id after check passes; cause says why,
// for the metrics and the log.
//
// The status changes first, in one write conditional on the status and version read; then
// the hold is released, conditional on this order still holding the ticket. The release
// also runs when the order was already cancelled, to heal a crash between the two writes.
func (s *Service) cancel(ctx context.Context, id string, ev order.Event, cause string, check func(order.Order) error) error {
	var changed bool
	o, err := s.store.UpdateOrder(ctx, id, func(o order.Order) (order.Order, error) {
		if check != nil {
			if err := check(o); err != nil {
				return o, err
			}
		}
		next, err := o.Apply(ev)
		changed = next.Version != o.Version
		return next, err
	})
	if err != nil {
		return err
	}
	if o.Status != events.OrderStatusCancelled {
		return nil // complete: an expiry changes nothing
	}
	if changed {
		ordersTotal.WithLabelValues(string(events.OrderStatusCancelled), cause).Inc()
		s.log.InfoContext(ctx, "order cancelled", "order_id", o.ID, "ticket_id", o.Ticket.ID, "cause", cause)
	}
	return s.release(ctx, o)
}

func (s *Service) release(ctx context.Context, o order.Order) error {
	_, err := s.store.ReleaseHold(ctx, o.Ticket.ID, o.ID)
	return err
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
	next, err := o.Apply(order.Pay)
	if errors.Is(err, order.ErrCancelled) {
		return s.paidCancelled(ctx, o)
	}
	if err != nil {
		return err
	}
	if next.Version == o.Version {
		return nil // complete already: a redelivered payment.created
	}
	held, err := s.store.ExtendHold(ctx, o.Ticket.ID, order.Hold{OrderID: o.ID}.Permanent())
	if err != nil {
		return err
	}
	if !held {
		s.log.WarnContext(ctx, "payment after the order's hold was lost; cancelling the order so that payments refunds it",
			"order_id", o.ID, "ticket_id", o.Ticket.ID)
		return s.cancel(ctx, o.ID, order.Expire, causeLostHold, nil)
	}
	var changed bool
	o, err = s.store.UpdateOrder(ctx, id, func(o order.Order) (order.Order, error) {
		next, err := o.Apply(order.Pay)
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
	return nil
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

// UpdateTicket applies version t.Version of a ticket to the replica when it holds an
// earlier version (ticket.updated). The hold is this service's and stays as it is.
func (s *Service) UpdateTicket(ctx context.Context, t order.Ticket) (bus.Outcome, error) {
	return s.store.ApplyTicketVersion(ctx, t)
}

// Package booking runs the order workflows over the store: place an order by taking the
// ticket's hold, cancel or expire it and release the hold, complete it on payment after
// making the hold permanent. The order of the writes in each workflow is what guarantees
// that a ticket is never held by two live orders and that a paid order is never cancelled;
// see the comment of each method.
package booking

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

// Forever is the end of a paid order's hold: it never lapses.
var Forever = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// maxAttempts bounds the re-reads of an order that changed under a conditional write. An
// order changes at most twice in its life, so more attempts than that mean a fault.
const maxAttempts = 5

// Options configure a Service.
type Options struct {
	Window    time.Duration                              // EXPIRATION_WINDOW: expiresAt = now + Window
	HoldGrace time.Duration                              // HOLD_GRACE: the hold lapses at expiresAt + HoldGrace
	Notify    func(orderID string, envs ...bus.Envelope) // the outbox relay's Notify; nil does nothing
	Now       func() time.Time                           // time.Now by default
	Logger    *slog.Logger                               // slog.Default() by default
}

// Service runs the workflows.
type Service struct {
	store *store.Store
	opts  Options
	log   *slog.Logger
}

// New is a Service over st.
func New(st *store.Store, opts Options) *Service {
	if opts.Notify == nil {
		opts.Notify = func(string, ...bus.Envelope) {}
	}
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
// expiresAt + HoldGrace. Errors: order.ErrTicketNotFound, order.ErrTicketReserved.
func (s *Service) Create(ctx context.Context, userID, ticketID string) (order.Order, error) {
	// A client that hangs up must not leave a hold behind: the writes finish regardless
	// (each is bounded by the driver's timeout).
	wctx := context.WithoutCancel(ctx)
	now := s.now()
	o := order.New(store.NewID(), userID, order.Ticket{}, now, s.opts.Window)
	t, err := s.store.Hold(wctx, ticketID, o.ID, now, o.ExpiresAt.Add(s.opts.HoldGrace))
	if errors.Is(err, order.ErrTicketReserved) {
		holdsTotal.WithLabelValues("refused").Inc()
	}
	if err != nil {
		return order.Order{}, err
	}
	holdsTotal.WithLabelValues("taken").Inc()
	o.Ticket = t
	env, err := bus.NewEnvelope(ctx, events.OrderCreated{
		ID:        o.ID,
		Version:   o.Version,
		Status:    events.OrderStatus(o.Status),
		UserID:    o.UserID,
		ExpiresAt: o.ExpiresAt,
		Ticket:    events.TicketRef{ID: t.ID, PriceCents: t.PriceCents},
	})
	if err == nil {
		err = s.store.InsertOrder(wctx, o, env)
	}
	if err != nil {
		if _, rerr := s.store.ReleaseHold(wctx, t.ID, o.ID); rerr != nil {
			s.log.WarnContext(ctx, "release of the hold of an order that was not stored failed; it lapses by itself",
				"order", o.ID, "ticket", t.ID, "err", rerr)
		}
		return order.Order{}, err
	}
	ordersTotal.WithLabelValues(string(order.Created), "").Inc()
	s.opts.Notify(o.ID, env)
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
	for range maxAttempts {
		o, err := s.store.Order(ctx, id)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(o); err != nil {
				return err
			}
		}
		next, err := order.Next(o.Status, ev)
		if err != nil {
			return err
		}
		if next == o.Status {
			if next == order.Cancelled {
				return s.release(ctx, o)
			}
			return nil
		}
		env, err := bus.NewEnvelope(ctx, events.OrderCancelled{
			ID: o.ID, Version: o.Version + 1, Ticket: events.TicketRef{ID: o.Ticket.ID},
		})
		if err != nil {
			return err
		}
		ok, err := s.store.Transition(ctx, o, next, env)
		if err != nil {
			return err
		}
		if !ok {
			continue // it changed since it was read: decide again
		}
		ordersTotal.WithLabelValues(string(order.Cancelled), cause).Inc()
		s.opts.Notify(o.ID, env)
		s.log.InfoContext(ctx, "order cancelled", "order", o.ID, "ticket", o.Ticket.ID, "cause", cause)
		return s.release(ctx, o)
	}
	return fmt.Errorf("order %s kept changing during %s", id, ev)
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
	for range maxAttempts {
		o, err := s.store.Order(ctx, id)
		if err != nil {
			return err
		}
		next, err := order.Next(o.Status, order.Pay)
		if errors.Is(err, order.ErrCancelled) {
			s.log.InfoContext(ctx, "payment for a cancelled order; payments refunds it", "order", o.ID)
			return s.release(ctx, o)
		}
		if err != nil {
			return err
		}
		if next == o.Status {
			return nil // complete already: a redelivered payment.created
		}
		held, err := s.store.ExtendHold(ctx, o.Ticket.ID, o.ID, Forever)
		if err != nil {
			return err
		}
		if !held {
			s.log.WarnContext(ctx, "payment after the order's hold was lost; cancelling the order so that payments refunds it",
				"order", o.ID, "ticket", o.Ticket.ID)
			return s.cancel(ctx, o.ID, order.Expire, causeLostHold, nil)
		}
		env, err := bus.NewEnvelope(ctx, events.OrderCompleted{
			ID: o.ID, Version: o.Version + 1, Ticket: events.TicketRef{ID: o.Ticket.ID},
		})
		if err != nil {
			return err
		}
		ok, err := s.store.Transition(ctx, o, next, env)
		if err != nil {
			return err
		}
		if ok {
			ordersTotal.WithLabelValues(string(order.Complete), "").Inc()
			s.opts.Notify(o.ID, env)
			s.log.InfoContext(ctx, "order complete", "order", o.ID, "ticket", o.Ticket.ID)
			return nil
		}
		// Changed since read (cancelled meanwhile, most likely): decide again.
	}
	return fmt.Errorf("order %s kept changing during payment", id)
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

// Sweeper returns the background loop that sweeps every interval until ctx ends.
func (s *Service) Sweeper(interval, grace time.Duration) func(context.Context) error {
	const batch = 100
	return func(ctx context.Context) error {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
			for {
				n, err := s.Sweep(ctx, grace, batch)
				if err != nil && ctx.Err() == nil {
					s.log.WarnContext(ctx, "sweep failed; the next one retries", "err", err)
				}
				if n > 0 {
					s.log.InfoContext(ctx, "swept orders whose expiry was missed", "count", n)
				}
				if n < batch || err != nil {
					break
				}
			}
		}
	}
}

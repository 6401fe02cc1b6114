// Package app runs the waiting room's workflows: learn of events and of the orders that hold
// their tickets (from the bus), let buyers join and look up their place, admit them at each
// event's rate, and sign the pass of each admitted buyer.
package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"ticketing/common/authn"
	"ticketing/services/queue/internal/line"
	"ticketing/services/queue/internal/store"
)

// Options configure a Service.
type Options struct {
	PassTTL time.Duration    // QUEUE_PASS_TTL: how long a pass lets its buyer order
	Tick    time.Duration    // QUEUE_TICK: how often admissions run
	Now     func() time.Time // time.Now by default
	Logger  *slog.Logger
}

// Service runs the workflows over the store, signing passes with signer.
type Service struct {
	store  *store.Store
	signer *authn.PassSigner
	opts   Options
	log    *slog.Logger
}

// New is a Service.
func New(st *store.Store, signer *authn.PassSigner, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{store: st, signer: signer, opts: opts, log: opts.Logger}
}

// Place is a buyer's place with their signed pass, when admitted.
type Place struct {
	line.Place
	Pass string
}

// AddSale keeps an event's sale (event.created).
func (s *Service) AddSale(ctx context.Context, sale line.Sale) error {
	return s.store.AddSale(ctx, sale)
}

// The kinds of order event ApplyOrder follows.
const (
	OrderCreated   = store.OrderCreated
	OrderCancelled = store.OrderCancelled
	OrderCompleted = store.OrderCompleted
)

// ApplyOrder follows an order of a ticket of event eventID (kind is OrderCreated...).
func (s *Service) ApplyOrder(ctx context.Context, kind, eventID, ticketID, orderID, userID string) error {
	return s.store.ApplyOrder(ctx, kind, eventID, ticketID, orderID, userID)
}

// Join puts userID in event eventID's line (again: the same place) and returns the place.
// Errors: line.ErrUnknownEvent.
func (s *Service) Join(ctx context.Context, userID, eventID string) (Place, error) {
	sale, err := s.store.Sale(ctx, eventID)
	if err != nil {
		return Place{}, err
	}
	if err := s.store.Join(ctx, eventID, userID, s.opts.Now()); err != nil {
		return Place{}, err
	}
	return s.place(ctx, sale, userID)
}

// Place is userID's place in event eventID's waiting room. Errors: line.ErrNotJoined (also
// for an unknown event).
func (s *Service) Place(ctx context.Context, userID, eventID string) (Place, error) {
	sale, err := s.store.Sale(ctx, eventID)
	if errors.Is(err, line.ErrUnknownEvent) {
		return Place{}, line.ErrNotJoined
	}
	if err != nil {
		return Place{}, err
	}
	return s.place(ctx, sale, userID)
}

func (s *Service) place(ctx context.Context, sale line.Sale, userID string) (Place, error) {
	e, available, err := s.store.Entry(ctx, sale.EventID, userID, sale.TicketCount)
	if err != nil {
		return Place{}, err
	}
	now := s.opts.Now()
	p, err := sale.PlaceOf(e, available, now)
	if err != nil {
		return Place{}, err
	}
	out := Place{Place: p}
	if p.Status == line.Admitted {
		// Signed on each look-up (Ed25519 is deterministic: the same pass each time).
		out.Pass, err = s.signer.Issue(userID, sale.EventID, p.PassExpires.Add(-s.opts.PassTTL), p.PassExpires)
		if err != nil {
			return Place{}, err
		}
	}
	return out, nil
}

// AdmitAll runs one round of admissions for every event whose sale has opened.
func (s *Service) AdmitAll(ctx context.Context) error {
	ids, err := s.store.Events(ctx)
	if err != nil {
		return err
	}
	now := s.opts.Now()
	var errs []error
	for _, id := range ids {
		sale, err := s.store.Sale(ctx, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !sale.Open(now) {
			continue
		}
		n, err := s.store.Admit(ctx, sale, now, s.opts.Tick, s.opts.PassTTL)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n > 0 {
			admittedTotal.Add(float64(n))
			s.log.DebugContext(ctx, "admitted", "event_id", id, "count", n)
		}
	}
	return errors.Join(errs...)
}

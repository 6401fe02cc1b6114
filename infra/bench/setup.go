package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// signupMany creates n accounts named after role, a few at a time (password hashing is
// deliberately expensive, and the auth service sheds load beyond its hashing budget).
func (b *Bench) signupMany(ctx context.Context, role string, n int) ([]User, error) {
	users := make([]User, n)
	var done atomic.Int64
	p := StartProgress("setup", func() string { return fmt.Sprintf("signing up %d %s: %d done", n, role, done.Load()) })
	defer p.Stop()
	err := parallel(ctx, n, b.cfg.SignupConcurrency, func(ctx context.Context, i int) error {
		u, err := b.client.Signup(ctx, fmt.Sprintf("%s-%s-%d@bench.example.com", b.runID, role, i))
		if err != nil {
			return err
		}
		users[i] = u
		done.Add(1)
		return nil
	})
	return users, err
}

// sale sets up a scenario's sale: a seller and nb buyers signed up, nt tickets listed by the
// seller (titled title) and replicated into the orders service; it returns the buyers and
// the tickets.
func (b *Bench) sale(ctx context.Context, scenario, title string, nb, nt int) ([]User, []string, error) {
	seller, err := b.client.Signup(ctx, b.runID+"-"+scenario+"-seller@bench.example.com")
	if err != nil {
		return nil, nil, err
	}
	buyers, err := b.signupMany(ctx, scenario+"-buyer", nb)
	if err != nil {
		return nil, nil, err
	}
	tickets, err := b.createTickets(ctx, seller, nt, title)
	if err != nil {
		return nil, nil, err
	}
	if _, err := b.waitReplicated(ctx, seller, buyers[0]); err != nil {
		return nil, nil, err
	}
	return buyers, tickets, nil
}

// createTickets lists n tickets for sale and returns their ids, in creation order.
func (b *Bench) createTickets(ctx context.Context, seller User, n int, title string) ([]string, error) {
	ids := make([]string, n)
	var done atomic.Int64
	p := StartProgress("setup", func() string { return fmt.Sprintf("creating %d tickets: %d done", n, done.Load()) })
	defer p.Stop()
	err := parallel(ctx, n, b.cfg.SetupConcurrency, func(ctx context.Context, i int) error {
		var id string
		r := retry(ctx, 10, func() Resp {
			var r Resp
			id, r, _ = b.client.CreateTicket(ctx, seller, fmt.Sprintf("%s %d", title, i), 20+float64(i%100)/4)
			return r
		})
		if r.Err != nil || r.Status != http.StatusCreated {
			return fmt.Errorf("create ticket: %s", r)
		}
		ids[i] = id
		done.Add(1)
		return nil
	})
	b.ticketsCreated += int(done.Load())
	return ids, err
}

// waitReplicated waits until the orders service has the tickets created so far in its
// replica: when the stack's metrics are reachable, until its ticket.created consumer acked
// as many events as tickets were created; otherwise until a probe ticket created last is
// orderable (tickets created just before it may still be on their way; the scenarios
// retry a 404 and count it).
func (b *Bench) waitReplicated(ctx context.Context, seller, prober User) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(3 * time.Minute)
	if b.stack != nil && b.stack.Metrics != nil {
		want := float64(b.ticketsCreated)
		var got float64
		p := StartProgress("setup", func() string {
			return fmt.Sprintf("waiting for the orders replica: %.0f of %.0f ticket.created handled", got, want)
		})
		defer p.Stop()
		for {
			n, err := b.stack.Metrics.Sum(ctx, "orders", "ticketing_events_handled_total",
				map[string]string{"subject": "ticket.created", "outcome": "ack"})
			if err == nil {
				got = n
				if n >= want {
					return time.Since(start), nil
				}
			}
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("orders replica has %.0f of %.0f tickets after 3 minutes (metrics error: %v)", got, want, err)
			}
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
				return 0, err
			}
		}
	}
	id, _, err := b.client.CreateTicket(ctx, seller, "probe", 1)
	if err != nil {
		return 0, err
	}
	b.ticketsCreated++
	for {
		r := b.client.PlaceOrder(ctx, prober, id)
		if r.Status == http.StatusCreated {
			return time.Since(start), nil
		}
		if r.Err == nil && r.Status != http.StatusNotFound {
			return 0, fmt.Errorf("probe order: %s", r)
		}
		if time.Now().After(deadline) {
			return 0, errors.New("probe ticket not orderable after 3 minutes")
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// placeOrder sends POST /api/orders, again after a 404 (the ticket not replicated yet) up
// to 50 times, adding every response to recs; notReplicated counts those 404s.
func (b *Bench) placeOrder(ctx context.Context, notReplicated *atomic.Int64, buyer User, ticketID string, recs ...*Recorder) Resp {
	return b.placeOrderPass(ctx, notReplicated, buyer, ticketID, "", recs...)
}

// placeOrderPass is placeOrder with a waiting-room pass (none when "").
func (b *Bench) placeOrderPass(ctx context.Context, notReplicated *atomic.Int64, buyer User, ticketID, pass string, recs ...*Recorder) Resp {
	var r Resp
	for attempt := 0; attempt < 50; attempt++ {
		r = b.client.PlaceOrderPass(ctx, buyer, ticketID, pass)
		for _, rec := range recs {
			rec.Add(r)
		}
		if r.Err != nil || r.Status != http.StatusNotFound {
			return r
		}
		notReplicated.Add(1)
		if sleep(ctx, 20*time.Millisecond) != nil {
			return r
		}
	}
	return r
}

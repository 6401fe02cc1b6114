package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// expiry: N orders on a stack whose EXPIRATION_WINDOW is short; nobody pays. Each must be
// cancelled after its expiresAt, never before. The buyers' order lists are polled in
// turn; an order's cancellation is dated by the first response showing it cancelled, so
// the lateness is an upper bound, within one polling cycle (reported).
func (b *Bench) expiry(ctx context.Context, res *Result) error {
	n, nb := b.cfg.ExpiryOrders, b.cfg.ExpiryBuyers
	res.Params["orders"] = n
	res.Params["buyers"] = nb
	res.Params["window"] = b.cfg.ExpiryWindow.String()
	res.Params["concurrency"] = b.cfg.ExpiryConcurrency
	buyers, tickets, err := b.sale(ctx, "expiry", "Expiry", nb, n)
	if err != nil {
		return err
	}

	// On a stack of our own, also date each expiry job's expiration.completed and each
	// order.cancelled by JetStream's timestamps: exact, unlike the polls.
	var fired, cancelledEv *EventWatch
	if b.stack != nil {
		if fired, err = b.stack.WatchEvents(ctx, "expiration.completed", jsonField("orderId")); err != nil {
			return fmt.Errorf("watch expiration.completed: %w", err)
		}
		defer fired.Stop()
		if cancelledEv, err = b.stack.WatchEvents(ctx, "order.cancelled", jsonField("id")); err != nil {
			return fmt.Errorf("watch order.cancelled: %w", err)
		}
		defer cancelledEv.Stop()
	}

	lag, err := b.watchOutbox(ctx)
	if err != nil {
		return err
	}

	// Place the orders.
	type placed struct {
		id        string
		buyer     int
		expiresAt time.Time
		createdAt time.Time // when the 201 was read
	}
	orders := make([]placed, n)
	rec := NewRecorder()
	cmds := b.stackMetrics().watchCommands(ctx)
	var notReplicated atomic.Int64
	cpu := b.sampler.Start()
	p := StartProgress("expiry", func() string {
		return fmt.Sprintf("placing orders: %d/%d  201:%d", rec.Total(), n, rec.Count(http.StatusCreated))
	})
	err = parallel(ctx, n, b.cfg.ExpiryConcurrency, func(ctx context.Context, i int) error {
		r := b.placeOrder(ctx, &notReplicated, buyers[i%nb], tickets[i], rec)
		if r.Err != nil || r.Status != http.StatusCreated {
			return fmt.Errorf("place order: %s", r)
		}
		var o Order
		if err := r.Decode(&o); err != nil {
			return err
		}
		orders[i] = placed{id: o.ID, buyer: i % nb, expiresAt: o.ExpiresAt, createdAt: r.End}
		lag.add(r)
		return nil
	})
	p.Stop()
	if err != nil {
		return err
	}
	res.record("POST /api/orders", rec)
	first, last := orders[0].createdAt, orders[0].createdAt
	earliestExpiry, latestExpiry := orders[0].expiresAt, orders[0].expiresAt
	byID := map[string]int{}
	for i, o := range orders {
		byID[o.id] = i
		if o.createdAt.Before(first) {
			first = o.createdAt
		}
		if o.createdAt.After(last) {
			last = o.createdAt
		}
		if o.expiresAt.Before(earliestExpiry) {
			earliestExpiry = o.expiresAt
		}
		if o.expiresAt.After(latestExpiry) {
			latestExpiry = o.expiresAt
		}
	}
	window := orders[0].expiresAt.Sub(orders[0].createdAt).Round(time.Second)
	res.metric("orders placed", float64(n), "")
	res.metric("placing took", round2(last.Sub(first).Seconds()), "s")
	res.metric("window seen (expiresAt - 201)", round2(window.Seconds()), "s")

	// Watch them expire.
	var mu sync.Mutex
	seenLive := make([]time.Time, n)      // start of the last request that showed the order live
	seenCancelled := make([]time.Time, n) // end of the first response that showed it cancelled
	early, other := 0, 0
	var cancelled atomic.Int64
	var polls atomic.Int64
	deadline := latestExpiry.Add(b.cfg.ExpiryDeadline)
	p = StartProgress("expiry", func() string {
		return fmt.Sprintf("waiting for expiries: %d/%d cancelled", cancelled.Load(), n)
	})
	pollStart := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	var pollErr atomic.Value
	for range b.cfg.ExpiryPollers {
		wg.Go(func() {
			for ctx.Err() == nil && cancelled.Load() < int64(n) && time.Now().Before(deadline) {
				u := int(next.Add(1)-1) % nb
				list, r, err := b.client.Orders(ctx, buyers[u])
				polls.Add(1)
				if err != nil {
					pollErr.Store(err)
					_ = sleep(ctx, 100*time.Millisecond)
					continue
				}
				mu.Lock()
				for _, o := range list {
					i, ok := byID[o.ID]
					if !ok || !seenCancelled[i].IsZero() {
						continue
					}
					switch o.Status {
					case "created":
						seenLive[i] = r.Start
					case "cancelled":
						seenCancelled[i] = r.End
						cancelled.Add(1)
						if r.End.Before(orders[i].expiresAt) {
							early++
						}
					default:
						other++
					}
				}
				mu.Unlock()
				if fired != nil {
					// The bus dates the expiries exactly; the polls only confirm the API's view,
					// so they stay light on the database the scenario measures.
					_ = sleep(ctx, b.cfg.ExpiryPollPause)
				}
			}
		})
	}
	wg.Wait()
	p.Stop()
	res.CPU = cpu.Stop()
	if err := ctx.Err(); err != nil {
		return err
	}
	pollTime := time.Since(pollStart)

	var late, slack []time.Duration
	for i, o := range orders {
		if seenCancelled[i].IsZero() {
			continue
		}
		late = append(late, seenCancelled[i].Sub(o.expiresAt))
		if !seenLive[i].IsZero() {
			slack = append(slack, seenCancelled[i].Sub(seenLive[i]))
		}
	}
	missing := n - len(late)
	res.Latency["REST: seen cancelled after expiresAt (upper bound)"] = Summarize(late)
	if len(slack) > 0 {
		res.Latency["REST: polling uncertainty (last seen live -> seen cancelled)"] = Summarize(slack)
	}
	if fired != nil {
		// The events of the last cancellations may still be on their way to us.
		for end := time.Now().Add(10 * time.Second); cancelledEv.Len() < len(late) && time.Now().Before(end); {
			_ = sleep(ctx, 50*time.Millisecond)
		}
		var jobLate, cancelLate []time.Duration
		evEarly := 0
		for _, o := range orders {
			if t, ok := fired.At(o.id); ok {
				jobLate = append(jobLate, t.Sub(o.expiresAt))
			}
			if t, ok := cancelledEv.At(o.id); ok {
				cancelLate = append(cancelLate, t.Sub(o.expiresAt))
				if t.Before(o.expiresAt) {
					evEarly++
				}
			}
		}
		js := Summarize(jobLate)
		res.Latency["bus: expiration.completed after expiresAt"] = js
		res.Latency["bus: order.cancelled after expiresAt"] = Summarize(cancelLate)
		res.metric("expiration.completed events seen", float64(len(jobLate)), "")
		res.metric("order.cancelled events seen", float64(len(cancelLate)), "")
		res.invariant("order.cancelled published before expiresAt", "0", evEarly, evEarly == 0)
		if len(jobLate) > 0 && jobLate[0] < 0 {
			res.note("an expiry job fired %s before its expiresAt (the orders service refuses an early expiry and it is retried)", -jobLate[0])
		}
	}
	res.metric("list polls", float64(polls.Load()), "")
	res.metric("polling cycle (all buyers)", round2(pollTime.Seconds()/float64(max(polls.Load(), 1))*float64(nb)*1000), "ms")
	res.invariant("cancelled before expiresAt", "0", early, early == 0)
	res.target(fmt.Sprintf("not cancelled within %s after expiresAt", b.cfg.ExpiryDeadline), "0", missing, missing == 0)
	res.target("orders in another status", "0", other, other == 0)
	lag.report(ctx, res, 5*time.Second)
	cmds.report(ctx, res, "order placed and expired", n, 10*time.Second)
	if v := pollErr.Load(); v != nil {
		res.note("a list poll failed (and was retried): %v", v)
	}
	if last.After(earliestExpiry) {
		res.note("the first orders expired while later ones were still being placed (placing took %.1fs, window %s)",
			last.Sub(first).Seconds(), window)
	}
	return nil
}

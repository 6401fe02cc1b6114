package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"ticketing/common/apiclient"
)

// growth: whether the cost of an order and of the listing stays flat as data grows. The
// same measurement runs twice: C buyers order N fresh tickets each time (as in distinct)
// while one anonymous reader reads GET /api/tickets back to back; between the two, G more
// tickets are listed and ordered. Meant for a platform that already holds data (make dev,
// with -url): the second round must place at least 0.9 of the first's orders/s, with the
// listing's median at most 1.5 times the first's.
func (b *Bench) growth(ctx context.Context, res *Result) error {
	c, n, g := b.cfg.DistinctClients, b.cfg.GrowthOrders, b.cfg.GrowthTickets
	res.Params["clients"] = c
	res.Params["orders per round"] = n
	res.Params["tickets added between the rounds"] = g

	before, err := b.growthRound(ctx, "growth-before", c, n)
	if err != nil {
		return err
	}
	buyers, tickets, err := b.sale(ctx, "growth-fill", "Growth fill", c, g)
	if err != nil {
		return err
	}
	fill := NewRecorder()
	p := StartProgress("growth fill", func() string { return fmt.Sprintf("%d/%d orders", fill.Total(), g) })
	b.orderAll(ctx, buyers, tickets, fill, nil)
	p.Stop()
	if err := ctx.Err(); err != nil {
		return err
	}
	if ok := fill.Count(http.StatusCreated); ok != g {
		return fmt.Errorf("growth fill: %d of %d orders placed (%s)", ok, g, fmtStatuses(fill.Statuses()))
	}
	after, err := b.growthRound(ctx, "growth-after", c, n)
	if err != nil {
		return err
	}

	for _, r := range []growthRound{before, after} {
		res.metric("throughput "+r.label, round2(r.rate), "orders/s")
		res.record("POST /api/orders "+r.label, r.orders)
		res.record("GET /api/tickets "+r.label, r.reads)
	}
	rate := round2(after.rate / before.rate)
	read := round2(float64(after.reads.Summary().P50) / float64(before.reads.Summary().P50))
	res.metric("orders/s after / before", rate, "")
	res.metric("GET /api/tickets median after / before", read, "")
	res.target("orders/s after / before", ">= 0.9", rate, rate >= 0.9)
	res.target("GET /api/tickets median after / before", "<= 1.5", read, read <= 1.5)
	return nil
}

type growthRound struct {
	label         string
	rate          float64
	orders, reads *Recorder
}

// growthRound lists n fresh tickets, then has c buyers order them while one reader reads
// the listing, and returns the orders/s and both latencies.
func (b *Bench) growthRound(ctx context.Context, scenario string, c, n int) (growthRound, error) {
	r := growthRound{label: scenario[len("growth-"):], orders: NewRecorder(), reads: NewRecorder()}
	buyers, tickets, err := b.sale(ctx, scenario, "Growth", c, n)
	if err != nil {
		return r, err
	}
	p := StartProgress(scenario, func() string {
		return fmt.Sprintf("%d/%d orders, %d reads", r.orders.Total(), n, r.reads.Total())
	})
	rctx, stopReading := context.WithCancel(ctx)
	var reader sync.WaitGroup
	reader.Go(func() {
		for {
			resp := b.client.Send(rctx, apiclient.Request{Method: "GET", Path: "/api/tickets"})
			if rctx.Err() != nil {
				return // cut by the round's end: not a measurement
			}
			r.reads.Add(resp)
		}
	})
	start := time.Now()
	b.orderAll(ctx, buyers, tickets, r.orders, nil)
	elapsed := time.Since(start)
	stopReading()
	reader.Wait()
	p.Stop()
	if err := ctx.Err(); err != nil {
		return r, err
	}
	created := r.orders.Count(http.StatusCreated)
	if created != n {
		return r, fmt.Errorf("%s: %d of %d orders placed (%s)", scenario, created, n, fmtStatuses(r.orders.Statuses()))
	}
	if r.reads.Count(http.StatusOK) == 0 {
		return r, fmt.Errorf("%s: no listing answered 200 (%s)", scenario, fmtStatuses(r.reads.Statuses()))
	}
	r.rate = float64(created) / elapsed.Seconds()
	return r, nil
}

// orderAll has each buyer order tickets, one at a time, until every ticket was ordered once
// (ticket k by whichever buyer takes it), adding every answer to rec and calling created, when
// set, with each 201. It returns how many answers were a 404 for a ticket not replicated yet
// (each sent again, and counted in rec).
func (b *Bench) orderAll(ctx context.Context, buyers []User, tickets []string, rec *Recorder, created func(Resp)) int64 {
	var next, notReplicated atomic.Int64
	var wg sync.WaitGroup
	for _, buyer := range buyers {
		wg.Go(func() {
			for ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= len(tickets) {
					return
				}
				if r := b.placeOrder(ctx, &notReplicated, buyer, tickets[k], rec); r.Status == http.StatusCreated && created != nil {
					created(r)
				}
			}
		})
	}
	wg.Wait()
	return notReplicated.Load()
}

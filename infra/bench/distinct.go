package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// distinct: C buyers at once, each ordering tickets no one else orders, as fast as the
// platform answers. Every order should succeed; this is the platform's order throughput
// and POST /api/orders latency without contention.
func (b *Bench) distinct(ctx context.Context, res *Result) error {
	c, n := b.cfg.DistinctClients, b.cfg.DistinctOrders
	res.Params["clients"] = c
	res.Params["orders"] = n
	buyers, tickets, err := b.sale(ctx, "distinct", "Distinct", c, n)
	if err != nil {
		return err
	}

	lag, err := b.watchOutbox(ctx)
	if err != nil {
		return err
	}
	rec := NewRecorder()
	server := b.watchOrdersRoute(ctx)
	cmds := b.stackMetrics().watchCommands(ctx)
	cpu := b.sampler.Start()
	p := StartProgress("distinct", func() string {
		return fmt.Sprintf("%d/%d orders  201:%d other:%d", rec.Total(), n, rec.Count(http.StatusCreated), rec.Total()-rec.Count(http.StatusCreated))
	})
	start := time.Now()
	notReplicated := b.orderAll(ctx, buyers, tickets, rec, lag.add)
	elapsed := time.Since(start)
	p.Stop()
	res.CPU = cpu.Stop()
	if s, ok := server.stop(ctx); ok {
		res.Server = append(res.Server, s)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	created := rec.Count(http.StatusCreated)
	res.metric("orders placed (201)", float64(created), "")
	res.metric("throughput", round2(float64(created)/elapsed.Seconds()), "orders/s")
	res.metric("duration", round2(elapsed.Seconds()), "s")
	res.record("POST /api/orders", rec)
	lat := rec.Summary()
	res.target("p99 POST /api/orders", "< 250ms", fmtMs(lat.P99), lat.P99 < 250)
	res.target("orders refused or failed", "0", n-created, created == n)
	lag.report(ctx, res, 30*time.Second)
	cmds.report(ctx, res, "order", created, 30*time.Second)
	if notReplicated > 0 {
		res.note("%d answers were 404 because a ticket was not replicated yet; each was sent again (counted in the statuses)", notReplicated)
	}
	return nil
}

// watchOrdersRoute follows the server-side latency of POST /api/orders in the orders
// replicas' metrics, when the stack exposes them.
func (b *Bench) watchOrdersRoute(ctx context.Context) *routeWindow {
	return b.stackMetrics().watchRoute(ctx, "POST /api/orders", "orders", map[string]string{"route": "/api/orders|/api/orders/", "method": "POST"})
}

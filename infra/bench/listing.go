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

// listing: many readers of GET /api/tickets (the storefront's first page, limit 24) while
// buyers order tickets of that listing, in two phases of the same length: readers that send
// plain GETs, then readers that revalidate with If-None-Match (the ETag of their last 200),
// as browsers and shared caches do after the answer's max-age. The buyers order the oldest
// tickets first, off the page the readers get: each order is a write on a tickets replica,
// which drops that replica's cached pages (the next reader's request queries the store
// again), while the page itself, and so its ETag, stays the same.
func (b *Bench) listing(ctx context.Context, res *Result) error {
	nr, nb, nt, d := b.cfg.ListingReaders, b.cfg.ListingBuyers, b.cfg.ListingTickets, b.cfg.ListingPhase
	res.Params["readers"] = nr
	res.Params["buyers"] = nb
	res.Params["tickets"] = nt
	res.Params["phase"] = d.String()
	buyers, tickets, err := b.sale(ctx, "listing", "Listing", nb, nt)
	if err != nil {
		return err
	}

	const path = "/api/tickets?limit=24"
	var next, notReplicated atomic.Int64
	cpu := b.sampler.Start()
	for _, revalidate := range []bool{false, true} {
		name := "GET /api/tickets"
		if revalidate {
			name += " If-None-Match"
		}
		reads, orders := NewRecorder(), NewRecorder()
		p := StartProgress("listing "+map[bool]string{false: "plain", true: "If-None-Match"}[revalidate], func() string {
			return fmt.Sprintf("%d reads  200:%d 304:%d  %d orders", reads.Total(), reads.Count(http.StatusOK),
				reads.Count(http.StatusNotModified), orders.Count(http.StatusCreated))
		})
		pctx, cancel := context.WithTimeout(ctx, d)
		start := time.Now()
		var wg sync.WaitGroup
		for range nr {
			wg.Go(func() {
				var etag string
				for pctx.Err() == nil {
					var h http.Header
					if revalidate && etag != "" {
						h = http.Header{"If-None-Match": {etag}}
					}
					r := b.client.Send(pctx, apiclient.Request{Method: "GET", Path: path, Header: h})
					if pctx.Err() != nil {
						return // cut by the phase's end: not a measurement
					}
					reads.Add(r)
					if r.Status == http.StatusOK {
						etag = r.Header.Get("ETag")
					}
				}
			})
		}
		for i := range nb {
			wg.Go(func() {
				for pctx.Err() == nil {
					k := int(next.Add(1) - 1)
					if k >= len(tickets) {
						return
					}
					r := b.placeOrder(pctx, &notReplicated, buyers[i], tickets[k]) // oldest first: off the first page
					if pctx.Err() != nil {
						return
					}
					orders.Add(r)
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		cancel()
		p.Stop()
		if err := ctx.Err(); err != nil {
			return err
		}
		lat := reads.Summary()
		res.record(name, reads)
		res.metric(name+": requests", round2(float64(reads.Total())/elapsed.Seconds()), "/s")
		res.metric(name+": p99", lat.P99, "ms")
		if revalidate {
			res.metric(name+": 304 share", round2(float64(reads.Count(http.StatusNotModified))/float64(max(reads.Total(), 1))), "")
		}
		res.metric(name+": orders placed meanwhile", round2(float64(orders.Count(http.StatusCreated))/elapsed.Seconds()), "orders/s")
		res.target(name+": answers other than 200/304", "0", reads.Total()-reads.Count(http.StatusOK)-reads.Count(http.StatusNotModified),
			reads.Total() == reads.Count(http.StatusOK)+reads.Count(http.StatusNotModified))
		if int(next.Load()) >= len(tickets) {
			res.note("%s: the buyers ran out of tickets before the phase ended (raise -listing-tickets)", name)
		}
	}
	res.CPU = cpu.Stop()
	return nil
}

package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// propagation: how long the platform takes to agree with itself, one ticket at a time on
// an otherwise idle stack.
//
//   - ticket -> orderable: from POST /api/tickets returning to the first POST /api/orders
//     for it that answers 201 (the orders replica caught up through ticket.created). The
//     order is sent every -poll while it answers 404; the time counts until the 201 is read,
//     so it is an upper bound, by at most one poll interval plus one request.
//   - order -> payable: from that 201 to the first POST /api/payments that is accepted (the
//     payments replica caught up through order.created).
//   - payment -> complete: from the payment's 201 to GET /api/orders/{id} reading
//     "complete" (payment.created -> orders), polled every -poll.
func (b *Bench) propagation(ctx context.Context, res *Result) error {
	n, paid, poll := b.cfg.PropTickets, min(b.cfg.PropPayments, b.cfg.PropTickets), b.cfg.Poll
	res.Params["tickets"] = n
	res.Params["payments"] = paid
	res.Params["poll"] = poll.String()
	seller, err := b.client.Signup(ctx, b.runID+"-prop-seller@bench.example.com")
	if err != nil {
		return err
	}
	buyer, err := b.client.Signup(ctx, b.runID+"-prop-buyer@bench.example.com")
	if err != nil {
		return err
	}
	var toOrderable, toPayable, toComplete []time.Duration
	payRec := NewRecorder()
	failures, falseConflicts := 0, 0
	cpu := b.sampler.Start()
	var nOrdered, nComplete atomic.Int64
	p := StartProgress("propagation", func() string {
		return fmt.Sprintf("tickets ordered %d/%d  orders complete %d/%d", nOrdered.Load(), n, nComplete.Load(), paid)
	})
	defer p.Stop()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		id, r, err := b.client.CreateTicket(ctx, seller, fmt.Sprintf("Propagation %d", i), 30)
		if err != nil {
			return err
		}
		b.ticketsCreated++
		created := r.End
		var order Order
		for {
			r := b.client.PlaceOrder(ctx, buyer, id)
			if r.Err == nil && r.Status == http.StatusCreated {
				toOrderable = append(toOrderable, r.End.Sub(created))
				nOrdered.Add(1)
				if err := r.Decode(&order); err != nil {
					return err
				}
				break
			}
			if r.Err == nil && r.Status == http.StatusConflict {
				// Nobody else knows this ticket: "already reserved" is wrong, and the ticket
				// is still orderable. Counted, and the order sent again.
				falseConflicts++
			} else if r.Err != nil || r.Status != http.StatusNotFound {
				return fmt.Errorf("order a fresh ticket: %s", r)
			}
			if time.Since(created) > time.Minute {
				return fmt.Errorf("ticket %s not orderable after a minute", id)
			}
			if err := sleep(ctx, poll); err != nil {
				return err
			}
		}
		if i >= paid {
			continue
		}
		ordered := time.Now()
		var payment Resp
		for {
			payment = b.client.Pay(ctx, buyer, order.ID)
			payRec.Add(payment)
			if payment.Err == nil && payment.Status != http.StatusNotFound {
				break
			}
			if time.Since(ordered) > time.Minute {
				return fmt.Errorf("order %s not payable after a minute: %s", order.ID, payment)
			}
			if err := sleep(ctx, poll); err != nil {
				return err
			}
		}
		if payment.Status != http.StatusCreated {
			failures++
			continue
		}
		toPayable = append(toPayable, payment.End.Sub(ordered))
		for {
			o, r, err := b.client.GetOrder(ctx, buyer, order.ID)
			if err != nil {
				return err
			}
			if o.Status == "complete" {
				toComplete = append(toComplete, r.End.Sub(payment.End))
				nComplete.Add(1)
				break
			}
			if o.Status == "cancelled" {
				failures++
				break
			}
			if r.End.Sub(payment.End) > time.Minute {
				return fmt.Errorf("order %s not complete a minute after its payment", order.ID)
			}
			if err := sleep(ctx, poll); err != nil {
				return err
			}
		}
	}
	res.CPU = cpu.Stop()
	if err := ctx.Err(); err != nil {
		return err
	}
	o := Summarize(toOrderable)
	res.Latency["ticket created -> orderable"] = o
	res.Latency["order placed -> payment accepted"] = Summarize(toPayable)
	res.Latency["payment accepted -> order complete"] = Summarize(toComplete)
	res.record("POST /api/payments", payRec)
	res.target("p50 ticket created -> orderable", "< 100ms", fmtMs(o.P50), o.P50 < 100)
	res.target("payments refused or orders not completed", "0", failures, failures == 0)
	res.target("409 'already reserved' for a fresh, free ticket", "0", falseConflicts, falseConflicts == 0)
	return nil
}

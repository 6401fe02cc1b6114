package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// rush: the on-sale spike. B buyers released at the same instant on the same T fresh
// tickets; each buyer tries the tickets in its own random order until one is accepted or
// every ticket answered 409. Exactly one order per ticket may win. After the events
// settle, the orders view (every buyer's GET /api/orders) and the tickets view (GET
// /api/tickets/{id}) must both show at most one live order per ticket.
func (b *Bench) rush(ctx context.Context, res *Result) error {
	nb, nt, rounds := b.cfg.RushBuyers, b.cfg.RushTickets, b.cfg.RushRounds
	res.Params["buyers"] = nb
	res.Params["tickets"] = nt
	res.Params["rounds"] = rounds
	seller, err := b.client.Signup(ctx, b.runID+"-rush-seller@bench.example.com")
	if err != nil {
		return err
	}
	buyers, err := b.signupMany(ctx, "rush-buyer", nb)
	if err != nil {
		return err
	}

	all, accepted := NewRecorder(), NewRecorder()
	var notReplicated atomic.Int64
	var mu sync.Mutex
	wins := map[string][]string{} // ticket -> orders accepted (201)
	var allTickets []string
	var burst time.Duration
	var sellOut []time.Duration
	var cpu []CPUUsage
	var server []ServerLat

	for round := range rounds {
		tickets, err := b.createTickets(ctx, seller, nt, fmt.Sprintf("Rush %d", round))
		if err != nil {
			return err
		}
		allTickets = append(allTickets, tickets...)
		if _, err := b.waitReplicated(ctx, seller, buyers[0]); err != nil {
			return err
		}
		// Open one connection per buyer beforehand, so the burst measures the platform and
		// not TCP handshakes.
		_ = parallel(ctx, nb, nb, func(ctx context.Context, i int) error {
			b.client.Do(ctx, "GET", "/api/users/currentuser", buyers[i].Token, nil)
			return nil
		})

		sw := b.watchOrdersRoute(ctx)
		cw := b.sampler.Start()
		roundAll := NewRecorder()
		var lastWin atomic.Int64
		p := StartProgress(fmt.Sprintf("rush %d/%d", round+1, rounds), func() string {
			return fmt.Sprintf("%d requests  201:%d 409:%d other:%d", roundAll.Total(), roundAll.Count(http.StatusCreated),
				roundAll.Count(http.StatusConflict), roundAll.Total()-roundAll.Count(http.StatusCreated)-roundAll.Count(http.StatusConflict))
		})
		gate := make(chan struct{})
		var wg sync.WaitGroup
		for i := range nb {
			wg.Go(func() {
				order := rand.Perm(nt)
				<-gate
				for _, k := range order {
					r := b.placeOrder(ctx, &notReplicated, buyers[i], tickets[k], roundAll, all)
					if r.Err == nil && r.Status == http.StatusCreated {
						accepted.Add(r)
						var o Order
						if r.Decode(&o) == nil {
							mu.Lock()
							wins[tickets[k]] = append(wins[tickets[k]], o.ID)
							mu.Unlock()
						}
						lastWin.Store(r.End.UnixNano())
						return
					}
					if ctx.Err() != nil {
						return
					}
				}
			})
		}
		start := time.Now()
		close(gate)
		wg.Wait()
		d := time.Since(start)
		p.Stop()
		burst += d
		if lw := lastWin.Load(); lw > 0 {
			sellOut = append(sellOut, time.Unix(0, lw).Sub(start))
		}
		cpu = mergeCPU(cpu, cw.Stop(), rounds)
		if s, ok := sw.stop(ctx); ok {
			server = append(server, s)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	res.CPU = cpu
	if s, ok := mergeServer(server); ok {
		res.Server = append(res.Server, s)
	}

	res.metric("requests offered", float64(all.Total()), "")
	res.metric("offered rate", round2(float64(all.Total())/burst.Seconds()), "requests/s")
	res.metric("orders accepted (201)", float64(accepted.Total()), "")
	res.metric("burst duration (sum of rounds)", round2(burst.Seconds()), "s")
	if len(sellOut) > 0 {
		var total time.Duration
		for _, d := range sellOut {
			total += d
		}
		// Until the last ticket is taken; afterwards the losers only collect 409s.
		res.metric("accepted rate until sold out", round2(float64(accepted.Total())/total.Seconds()), "orders/s")
		slices.Sort(sellOut)
		res.metric("sell-out time (worst round)", ms(sellOut[len(sellOut)-1]), "ms")
	}
	res.record("POST /api/orders (all)", all)
	res.record("POST /api/orders (201 only)", accepted)
	if k := notReplicated.Load(); k > 0 {
		res.note("%d answers were 404 because a ticket was not replicated yet; each was sent again", k)
	}

	// The invariant, from the responses, then from both services' views once events settle.
	doubleResp := doubleWins(wins)
	res.invariant("tickets with more than one 201", "0", doubleResp, doubleResp == 0)
	res.target("tickets sold", fmt.Sprint(len(allTickets)), len(wins), len(wins) == len(allTickets))
	v, err := b.verifyHolds(ctx, "rush check", buyers, allTickets, wins)
	if err != nil {
		return err
	}
	res.metric("time for the tickets view to settle", ms(v.settle), "ms")
	v.report(res)
	return nil
}

type holdCheck struct {
	doubleOrders  int // tickets with more than one live order in the orders view
	doubleTickets int // tickets whose tickets-view holder differs from a live order of the orders view
	lost          int // accepted orders that the orders view does not show as live
	unsettled     int // tickets whose tickets view never showed their live order
	settle        time.Duration
}

// report adds the checks of the views to res.
func (hc holdCheck) report(res *Result) {
	res.invariant("tickets held by >1 live order (orders view)", "0", hc.doubleOrders, hc.doubleOrders == 0)
	res.invariant("tickets held by >1 live order (tickets view vs orders view)", "0", hc.doubleTickets, hc.doubleTickets == 0)
	res.invariant("accepted orders missing or not live in the orders view", "0", hc.lost, hc.lost == 0)
	res.target("tickets whose tickets view did not settle", "0", hc.unsettled, hc.unsettled == 0)
}

// verifyHolds reads every buyer's orders, then polls the tickets until the tickets view
// agrees with the orders view (or the settle timeout), and counts double holds.
func (b *Bench) verifyHolds(ctx context.Context, label string, buyers []User, tickets []string, wins map[string][]string) (holdCheck, error) {
	var hc holdCheck
	want := map[string]bool{}
	for _, t := range tickets {
		want[t] = true
	}
	var mu sync.Mutex
	live := map[string][]string{} // ticket -> live orders (orders view)
	liveIDs := map[string]bool{}
	err := parallel(ctx, len(buyers), b.cfg.SetupConcurrency, func(ctx context.Context, i int) error {
		orders, _, err := b.client.Orders(ctx, buyers[i])
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, o := range orders {
			if want[o.Ticket.ID] && o.Live() {
				live[o.Ticket.ID] = append(live[o.Ticket.ID], o.ID)
				liveIDs[o.ID] = true
			}
		}
		return nil
	})
	if err != nil {
		return hc, fmt.Errorf("orders view: %w", err)
	}
	for _, orders := range wins {
		for _, id := range orders {
			if !liveIDs[id] {
				hc.lost++
			}
		}
	}

	start := time.Now()
	holder := map[string]*string{}
	pending := slices.Clone(tickets)
	p := StartProgress(label, func() string {
		return fmt.Sprintf("waiting for the tickets view: %d of %d tickets not settled", len(pending), len(tickets))
	})
	defer p.Stop()
	for {
		var next []string
		var pmu sync.Mutex
		err := parallel(ctx, len(pending), b.cfg.SetupConcurrency, func(ctx context.Context, i int) error {
			t, _, err := b.client.GetTicket(ctx, pending[i])
			if err != nil {
				return err
			}
			pmu.Lock()
			defer pmu.Unlock()
			holder[pending[i]] = t.OrderID
			if !settled(t.OrderID, live[pending[i]]) {
				next = append(next, pending[i])
			}
			return nil
		})
		if err != nil {
			return hc, fmt.Errorf("tickets view: %w", err)
		}
		pending = next
		if len(pending) == 0 || time.Since(start) > b.cfg.Settle {
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return hc, err
		}
	}
	hc.settle = time.Since(start)
	hc.unsettled = len(pending)
	hc.doubleOrders, hc.doubleTickets = countDoubleHolds(tickets, live, holder)
	return hc, nil
}

// settled reports whether the tickets view shows the one live order of the orders view
// (or no holder when there is none).
func settled(holder *string, live []string) bool {
	if len(live) == 0 {
		return holder == nil
	}
	return holder != nil && slices.Contains(live, *holder)
}

// countDoubleHolds counts the tickets held by more than one live order according to the
// orders view alone, and according to both views together (the tickets view's holder and
// the orders view's live orders name more than one order).
func countDoubleHolds(tickets []string, live map[string][]string, holder map[string]*string) (ordersView, bothViews int) {
	for _, t := range tickets {
		ids := map[string]bool{}
		for _, o := range live[t] {
			ids[o] = true
		}
		if len(ids) > 1 {
			ordersView++
		}
		if h := holder[t]; h != nil {
			ids[*h] = true
		}
		if len(ids) > 1 {
			bothViews++
		}
	}
	return ordersView, bothViews
}

// mergeCPU averages the CPU usage of the rounds.
func mergeCPU(acc, round []CPUUsage, n int) []CPUUsage {
	by := map[string]float64{}
	var names []string
	for _, c := range acc {
		by[c.Name] += c.Cores
		names = append(names, c.Name)
	}
	for _, c := range round {
		if _, ok := by[c.Name]; !ok {
			names = append(names, c.Name)
		}
		by[c.Name] += c.Cores / float64(n)
	}
	out := make([]CPUUsage, 0, len(names))
	for _, name := range names {
		out = append(out, CPUUsage{Name: name, Cores: round2(by[name])})
	}
	slices.SortFunc(out, func(x, y CPUUsage) int {
		switch {
		case x.Cores > y.Cores:
			return -1
		case x.Cores < y.Cores:
			return 1
		}
		return 0
	})
	return out
}

// mergeServer adds up the server-side windows of the rounds.
func mergeServer(ws []ServerLat) (ServerLat, bool) {
	var count, total float64
	name := ""
	for _, s := range ws {
		name = s.Name
		count += s.Count
		total += s.Mean * s.Count
	}
	if count == 0 {
		return ServerLat{}, false
	}
	return ServerLat{Name: name, Count: count, Mean: round2(total / count)}, true
}

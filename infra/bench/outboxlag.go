package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// outboxLag measures, on a stack of our own, how long the orders service's outbox relay
// takes to put order.created on the bus after POST /api/orders answered 201: JetStream's
// timestamp of the event minus the time the client read the 201.
type outboxLag struct {
	w      *EventWatch
	mu     sync.Mutex
	placed map[string]time.Time
}

// watchOutbox starts following order.created; nil (and every method a no-op) with -url.
func (b *Bench) watchOutbox(ctx context.Context) (*outboxLag, error) {
	if b.stack == nil {
		return nil, nil
	}
	w, err := b.stack.WatchEvents(ctx, "order.created", jsonField("id"))
	if err != nil {
		return nil, fmt.Errorf("watch order.created: %w", err)
	}
	return &outboxLag{w: w, placed: map[string]time.Time{}}, nil
}

// placed notes an order's 201.
func (l *outboxLag) add(r Resp) {
	if l == nil {
		return
	}
	var o Order
	if r.Decode(&o) != nil || o.ID == "" {
		return
	}
	l.mu.Lock()
	l.placed[o.ID] = r.End
	l.mu.Unlock()
}

// report waits up to wait for the events of every order noted, then adds the lag to res.
func (l *outboxLag) report(ctx context.Context, res *Result, wait time.Duration) {
	if l == nil {
		return
	}
	defer l.w.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	deadline := time.Now().Add(wait)
	missing := 0
	for {
		missing = 0
		for id := range l.placed {
			if _, ok := l.w.At(id); !ok {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) || sleep(ctx, 100*time.Millisecond) != nil {
			break
		}
	}
	var lag []time.Duration
	for id, at := range l.placed {
		if t, ok := l.w.At(id); ok {
			lag = append(lag, t.Sub(at))
		}
	}
	res.Latency["outbox: order.created on the bus after the 201"] = Summarize(lag)
	res.target(fmt.Sprintf("order.created not on the bus %s after the scenario", wait), "0", missing, missing == 0)
}

package store

import (
	"maps"
	"slices"
	"sync"
	"time"

	"ticketing/services/orders/internal/order"
)

// remembered keeps the live orders as this replica last stored them, so that their next
// transition (an expiry, a payment) starts from what was written, not from a read. It only
// saves reads: a transition is written on the condition that the order is still as
// remembered, and reads the order when it is not (another replica changed it).
type remembered struct {
	mu     sync.Mutex
	orders map[string]order.Order
}

// maxRemembered bounds the orders remembered (about 0.5 KiB each); past it, orders whose
// deadline passed more than staleAfter ago are dropped, and then everything.
const (
	maxRemembered = 50_000
	staleAfter    = time.Minute
)

// get is order id as remembered.
func (r *remembered) get(id string) (order.Order, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.orders[id]
	return o, ok
}

// stored remembers o, as just stored: a live order until its next transition, which
// forgets it once it settles.
func (r *remembered) stored(o order.Order) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !o.Status.Live() {
		delete(r.orders, o.ID)
		return
	}
	if r.orders == nil || len(r.orders) >= maxRemembered {
		before := time.Now().Add(-staleAfter)
		maps.DeleteFunc(r.orders, func(_ string, o order.Order) bool { return o.ExpiresAt.Before(before) })
		if r.orders == nil || len(r.orders) >= maxRemembered {
			r.orders = map[string]order.Order{}
		}
	}
	r.orders[o.ID] = asStored(o)
}

// asStored is o as it reads back: its times to the millisecond, as BSON keeps them.
func asStored(o order.Order) order.Order {
	ms := func(t time.Time) time.Time { return t.Truncate(time.Millisecond) }
	o.ExpiresAt, o.ReservedUntil, o.PaymentUntil = ms(o.ExpiresAt), ms(o.ReservedUntil), ms(o.PaymentUntil)
	o.History = slices.Clone(o.History)
	for i := range o.History {
		o.History[i].At = ms(o.History[i].At)
	}
	return o
}

// forget drops order id: what is remembered of it is no longer what is stored.
func (r *remembered) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.orders, id)
}

package main

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ticketing/common/apiclient"
	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/testkit"
)

// redisOutage is how long Redis stays down in TestRedisOutageDeadLettersNothing: longer than
// the 76 s after which the consumers used to give up on the expiration service's events.
const redisOutage = 3 * time.Minute

// TestRedisOutageDeadLettersNothing stops the stack's Redis (a private redis-server) for
// three minutes under traffic (tickets listed, ordered, every other order paid; the unpaid
// ones expire during the outage), then starts it again, empty. Every order settles (complete
// when paid, else cancelled), nothing is dead-lettered, and no request answers 5xx: the
// expiration service's consumers retry through the outage instead of giving up.
func TestRedisOutageDeadLettersNothing(t *testing.T) {
	rs := testkit.StartRedis(t)
	s := startStack(t, Options{
		RedisAddr: rs.Addr, RedisDB: rs.DB, LogLevel: "error",
		Env: map[string]string{"EXPIRATION_WINDOW": "20s", "SWEEP_INTERVAL": "1s", "SWEEP_GRACE": "3s"},
	})
	c := newClient(t, s.URL)
	seller := c.signup(fmt.Sprintf("outage-seller-%d@example.com", time.Now().UnixNano()))
	buyers := c.users("outage", 2)

	type placed struct {
		id    string
		buyer user
		paid  bool
	}
	var (
		mu     sync.Mutex
		orders []placed
		failed []string
		n      atomic.Int64
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failed = append(failed, fmt.Sprintf(format, args...))
	}
	for w, buyer := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := c.do("POST", "/api/tickets", seller.Token, map[string]any{"title": fmt.Sprintf("Outage %d-%d", w, i), "price": 12})
				if r.Status != 201 {
					fail("create ticket: %d %s", r.Status, r.Body)
					return
				}
				var tk apiclient.Ticket
				r.JSON(&tk)
				r = c.orderWhenReady(buyer, tk.ID)
				if r.Status != 201 {
					fail("order: %d %s", r.Status, r.Body)
					return
				}
				p := placed{id: r.Field("id"), buyer: buyer, paid: i%2 == 0}
				if p.paid {
					r := c.do("POST", "/api/payments", buyer.Token, map[string]string{"orderId": p.id, "token": "tok_visa"})
					switch {
					case r.Status == 201:
					case r.Status == 409 && strings.Contains(string(r.Body), "refunded"):
						// The hold ended while the card was charged (a payment handled late,
						// as right after the outage): the platform refunds. That is settled,
						// if the order was not cancelled before its deadline.
						if msg := cancelledOnTime(c.order(buyer, p.id)); msg != "" {
							fail("payment refunded for order %s: %s", p.id, msg)
							return
						}
					default:
						fail("payment: %d %s", r.Status, r.Body)
						return
					}
				}
				mu.Lock()
				orders = append(orders, p)
				mu.Unlock()
				n.Add(1)
			}
		}()
	}
	waitPlaced := func(more int64) {
		t.Helper()
		target := n.Load() + more
		eventually(t, 2*time.Minute, fmt.Sprintf("%d orders placed", target), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return n.Load() >= target || len(failed) > 0
		})
	}

	waitPlaced(4)
	rs.Stop()
	down := time.Now()
	t.Logf("Redis stopped after %d orders", n.Load())
	waitPlaced(4) // traffic goes on without Redis
	select {      // the outage itself: nothing to wait for while Redis is away
	case <-time.After(redisOutage - time.Since(down)):
	case <-stop:
	}
	rs.Start()
	t.Logf("Redis back after %s, %d orders placed", time.Since(down).Round(time.Second), n.Load())
	waitPlaced(4)
	close(stop)
	wg.Wait()
	for _, f := range failed {
		t.Error(f)
	}

	// Settled: an unpaid order cancelled; a paid one complete or, when its payment was handled
	// only after its hold had ended (a loaded machine can take that long), cancelled with the
	// payment refunded.
	refunded := 0
	for _, o := range orders {
		want := "cancelled"
		if o.paid {
			want = "complete, or cancelled and refunded"
		}
		eventually(t, 3*time.Minute, "order "+o.id+" "+want, func() bool {
			got := c.order(o.buyer, o.id)
			switch {
			case !o.paid:
				return got.Status == "cancelled"
			case got.Status == "complete":
				return true
			case got.Status == "cancelled" && slices.Contains(got.Causes(), "refunded"):
				refunded++
				return true
			}
			return false
		})
	}
	t.Logf("%d orders settled, %d paid ones refunded because their payment was handled after the hold ended", len(orders), refunded)
	conn, err := bus.Connect(t.Context(), s.NATSURL, t.Name(), events.Topology{Prefix: s.Prefix}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dls, err := conn.DeadLetters(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dls {
		t.Errorf("dead letter %d of %s: %s (%s)", d.Seq, d.Consumer, d.EventID, d.Reason)
	}
	for route, st := range c.statuses {
		for code, k := range st {
			if code >= 500 {
				t.Errorf("%s answered %d %d times", route, code, k)
			}
		}
	}
	t.Logf("%d orders through a %s Redis outage, %d dead letters", len(orders), redisOutage, len(dls))
}

// cancelledOnTime says what is wrong with o as an order cancelled at the end of its hold: ""
// when it is cancelled, and not before its deadline.
func cancelledOnTime(o apiclient.Order) string {
	if o.Status != "cancelled" {
		return fmt.Sprintf("status %s, want cancelled", o.Status)
	}
	for _, ch := range o.History {
		if ch.Status == "cancelled" && ch.At.Before(o.ExpiresAt) {
			return fmt.Sprintf("cancelled at %s (%s), before its deadline %s", ch.At, ch.Cause, o.ExpiresAt)
		}
	}
	return ""
}

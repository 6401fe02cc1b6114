package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"ticketing/common/apiclient"
)

// startOrdersReplica runs a second orders service in this process, on the stack's database
// and bus, until the test ends, and returns its base URL (the gateway routes to the first).
func startOrdersReplica(t *testing.T, s *Stack) string {
	t.Helper()
	env := maps.Clone(s.env["orders"])
	env["HTTP_ADDR"], env["METRICS_ADDR"] = "127.0.0.1:0", "off"
	ctx, cancel := context.WithCancel(context.Background())
	ready, failed, done := make(chan string, 1), make(chan error, 1), make(chan struct{})
	go func() {
		defer close(done)
		if err := runners["orders"](ctx, env, func(a string) { ready <- a }); err != nil {
			failed <- err
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-ready:
		return "http://" + a
	case err := <-failed:
		t.Fatalf("second orders replica: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("second orders replica did not start within 60s")
	}
	return ""
}

// TestEditRacesOrderAcrossReplicas races a seller's edit (PUT /api/tickets/{id}) with a
// buyer's order of the same ticket, placed through one of two orders replicas in turn (the
// edit sent 0 to 30 ms after the order), and for a third of the rounds pays the order as
// soon as it is placed. The edit can reach the
// tickets service before the order does while the orders service already holds the ticket
// at the old price; then the tickets service refuses the reservation (ticket.refused) and
// the order is cancelled with the cause ticket-changed, refunded if it was paid. Whatever
// wins, once everything settled:
//
//   - an order that holds its ticket shows the ticket's title and price (the buyer is charged
//     what the order shows, and that is the ticket's price);
//   - an edit answered 200 shows on the ticket, one answered 409 does not;
//   - an order cancelled was cancelled for ticket-changed after an edit answered 200, and a
//     paid one was refunded.
func TestEditRacesOrderAcrossReplicas(t *testing.T) {
	const rounds = 36
	s := startStorefrontStack(t, map[string]string{"PAYMENT_PROVIDER": "offline"})
	replicas := []*client{newClient(t, s.URL), newClient(t, startOrdersReplica(t, s))}
	c := replicas[0]
	seller := c.signup("race-seller@example.com")
	buyers := c.users("race-buyer", 2)

	type round struct {
		ticket apiclient.Ticket
		buyer  user
		order  reply
		edit   reply
		pay    reply // status 0 when not paid
	}
	rs := make([]round, rounds)
	for n := range rs {
		r := &rs[n]
		r.buyer = buyers[n%2]
		r.ticket = c.createTicket(seller, fmt.Sprintf("Race %d", n), 10)
		via := replicas[n%2]
		// The orders service has the ticket once its seller's order is refused as such.
		eventually(t, 20*time.Second, "ticket replicated", func() bool {
			return via.do("POST", "/api/orders", seller.Token, map[string]string{"ticketId": r.ticket.ID}).Status == 403
		})
		gate := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			<-gate
			r.order = via.do("POST", "/api/orders", r.buyer.Token, map[string]string{"ticketId": r.ticket.ID})
			if r.order.Status == 201 && n%3 == 0 {
				var o apiclient.Order
				r.order.JSON(&o)
				r.pay = c.do("POST", "/api/payments", r.buyer.Token, map[string]string{"orderId": o.ID, "token": "tok_visa"})
			}
		})
		wg.Go(func() {
			<-gate
			// The edit starts 0 to 30 ms after the order, so that the rounds spread it over
			// the moments that matter: before the order, while order.created is on its way to
			// the tickets service, and after it reserved the ticket.
			time.Sleep(time.Duration(n%4) * 10 * time.Millisecond)
			r.edit = c.do("PUT", "/api/tickets/"+r.ticket.ID, seller.Token, apiclient.NewTicket(fmt.Sprintf("Race %d changed", n), 20))
		})
		close(gate)
		wg.Wait()
	}

	outcomes := map[string]int{}
	for n, r := range rs {
		if r.order.Status != 201 || (r.edit.Status != 200 && r.edit.Status != 409) {
			t.Fatalf("round %d: order %d %s, edit %d %s; want 201, and 200 or 409", n, r.order.Status, r.order.Body, r.edit.Status, r.edit.Body)
		}
		var placed apiclient.Order
		r.order.JSON(&placed)
		paid := r.pay.Status == 201
		var o apiclient.Order
		var tk apiclient.Ticket
		// Settled: the tickets service holds the ticket for the order, or the order is
		// cancelled and the ticket free (and a paid one refunded).
		eventually(t, 30*time.Second, fmt.Sprintf("round %d settled", n), func() bool {
			o, tk = c.order(r.buyer, placed.ID), c.ticket(r.ticket.ID)
			switch {
			case o.Live():
				return tk.OrderID != nil && *tk.OrderID == o.ID && (o.Status != apiclient.OrderComplete || tk.Status == "sold")
			case o.Status == apiclient.OrderCancelled:
				return tk.OrderID == nil && (!paid || slices.Contains(o.Causes(), "refunded"))
			}
			return false
		})
		wantTitle, wantPrice := fmt.Sprintf("Race %d", n), "10"
		if r.edit.Status == 200 {
			wantTitle, wantPrice = fmt.Sprintf("Race %d changed", n), "20"
		}
		if tk.Title != wantTitle || tk.Price.String() != wantPrice {
			t.Errorf("round %d: edit answered %d, ticket shows %q at %s; want %q at %s", n, r.edit.Status, tk.Title, tk.Price, wantTitle, wantPrice)
		}
		var outcome string
		switch {
		case o.Live():
			if o.Ticket.Title != tk.Title || o.Ticket.Price != tk.Price {
				t.Errorf("round %d: order %s (%s) holds the ticket at %q %s, the ticket shows %q %s",
					n, o.ID, o.Status, o.Ticket.Title, o.Ticket.Price, tk.Title, tk.Price)
			}
			outcome = map[bool]string{true: "order kept, edit 200 (the order saw it)", false: "order kept, edit 409"}[r.edit.Status == 200]
		default:
			if r.edit.Status != 200 || !slices.Contains(o.Causes(), "ticket-changed") {
				t.Errorf("round %d: order cancelled with history %v after an edit answered %d; want ticket-changed after 200", n, o.Causes(), r.edit.Status)
			}
			outcome = "order cancelled ticket-changed, edit 200"
		}
		if paid {
			outcome += " (paid)"
		}
		outcomes[outcome]++
	}
	t.Logf("%d rounds, two orders replicas: %v", rounds, outcomes)
}

package orders_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/apiclient"
	"ticketing/common/authn"
	"ticketing/common/events"
	"ticketing/common/testkit"
)

// callWith sends method url (a whole URL) with token, body and more request headers.
func callWith(t testing.TB, method, url, token string, body any, header http.Header) testkit.Reply {
	t.Helper()
	return testkit.NewAPI(t, "").Send(apiclient.Request{Method: method, Path: url, Auth: apiclient.Bearer(token), Body: body, Header: header})
}

// queueKeys is a waiting room's signing key, with the public half in env as the orders
// service reads it.
func queueKeys(t testing.TB, env map[string]string) *authn.PassSigner {
	t.Helper()
	k := testkit.NewKeyPair(t)
	env["QUEUE_PUBLIC_KEY"] = k.PublicPEM
	return authn.NewPassSigner(k.Private)
}

func issue(t testing.TB, s *authn.PassSigner, user, event string, ttl time.Duration) http.Header {
	t.Helper()
	now := time.Now()
	p, err := s.Issue(user, event, now, now.Add(ttl))
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{authn.PassHeader: {p}}
}

var eventSeq int

// event publishes event.created and ticket.created for n tickets of it, and waits until the
// replica has them; it returns the event id and the ticket ids.
func (h *harness) event(onSaleAt time.Time, maxPerUser, n int) (string, []string) {
	h.t.Helper()
	eventSeq++
	id := fmt.Sprintf("e%023x", time.Now().UnixNano()+int64(eventSeq))
	h.publish(events.EventCreated{ID: id, Title: "Gala", UserID: "seller", OnSaleAt: onSaleAt, TicketCount: n, MaxPerUser: maxPerUser, AdmitPerMinute: 600})
	waitHandled[events.EventCreated](h)
	return id, h.eventTickets(id, n)
}

// eventTickets publishes n tickets of event id and waits until the replica has them.
func (h *harness) eventTickets(id string, n int) []string {
	h.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%024x", time.Now().UnixNano()+ticketSeq.Add(1))
		h.publish(events.TicketCreated{ID: ids[i], Title: fmt.Sprintf("Gala #%d", i+1), PriceCents: 1000, UserID: "seller", EventID: id})
	}
	for _, t := range ids {
		h.waitReplica(t, 0)
	}
	return ids
}

// The order of checks for a ticket of an event: 409 before the sale, 403 without a valid pass
// for this user and event, 409 past the user's limit; a ticket of no event needs nothing.
func TestOnSaleRules(t *testing.T) {
	env := map[string]string{}
	queue := queueKeys(t, env)
	forger := queueKeys(t, map[string]string{})
	h := newHarness(t, env)
	url := h.serve()
	alice := testkit.Token(t, "alice", "alice@example.com")
	bob := testkit.Token(t, "bob", "bob@example.com")
	order := func(token, ticket string, header http.Header) testkit.Reply {
		return callWith(t, "POST", url+"/api/orders", token, map[string]string{"ticketId": ticket}, header)
	}
	expect := func(r testkit.Reply, status int, msg string) {
		t.Helper()
		if r.Status != status || (msg != "" && r.Message() != msg) {
			t.Fatalf("%d %s, want %d %q", r.Status, r.Body, status, msg)
		}
	}

	later, laterTickets := h.event(time.Now().Add(time.Hour), 2, 1)
	expect(order(alice, laterTickets[0], issue(t, queue, "alice", later, time.Minute)), http.StatusConflict, "Not on sale yet")

	unknown := "f00000000000000000000001"
	orphan := h.eventTickets(unknown, 1)
	expect(order(alice, orphan[0], issue(t, queue, "alice", unknown, time.Minute)), http.StatusConflict, "Not on sale yet")

	open, tickets := h.event(time.Now().Add(-time.Second), 2, 4)
	other, _ := h.event(time.Now().Add(-time.Second), 2, 1)
	for name, header := range map[string]http.Header{
		"no pass":       nil,
		"forged":        issue(t, forger, "alice", open, time.Minute),
		"expired":       issue(t, queue, "alice", open, -time.Minute),
		"another user":  issue(t, queue, "bob", open, time.Minute),
		"another event": issue(t, queue, "alice", other, time.Minute),
		"garbage":       {authn.PassHeader: {"x.y.z"}},
	} {
		r := order(alice, tickets[0], header)
		if r.Status != http.StatusForbidden || r.Message() != "Queue pass required" {
			t.Errorf("%s: %d %s, want 403 Queue pass required", name, r.Status, r.Body)
		}
	}

	pass := issue(t, queue, "alice", open, time.Minute)
	first := order(alice, tickets[0], pass)
	expect(first, http.StatusCreated, "")
	expect(order(alice, tickets[1], pass), http.StatusCreated, "")
	expect(order(alice, tickets[2], pass), http.StatusConflict, "Order limit reached")
	// The pass travels in a cookie too; bob has his own limit.
	r := callWith(t, "POST", url+"/api/orders", bob, map[string]string{"ticketId": tickets[2]},
		http.Header{"Cookie": {authn.PassCookie + "=" + issue(t, queue, "bob", open, time.Minute).Get(authn.PassHeader)}})
	expect(r, http.StatusCreated, "")
	// A held ticket is still refused as such, and does not use up a slot.
	expect(order(bob, tickets[0], issue(t, queue, "bob", open, time.Minute)), http.StatusConflict, "Ticket is already reserved")
	expect(order(bob, tickets[3], issue(t, queue, "bob", open, time.Minute)), http.StatusCreated, "")

	// A cancelled order frees its slot.
	var o apiclient.Order
	first.JSON(&o)
	if r := testkit.Call(t, "DELETE", url+"/api/orders/"+o.ID, alice, nil); r.Status != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", r.Status, r.Body)
	}
	expect(order(alice, tickets[0], pass), http.StatusCreated, "")

	// A ticket of no event is ordered as before.
	placeOrder(t, url, alice, h.ticket("Plain", 500))
}

// The per-user limit and the one-hold-per-ticket rule, raced for real on two orders
// instances: each of 8 buyers sends 4 orders at once (for 4 tickets nobody else wants)
// under a limit of 2, and all buyers race each other with 2 orders each for 8 shared tickets
// of a second event (limit 1). No buyer holds more live orders for an event than its limit, no ticket is
// held twice, and the private round gives each buyer exactly its limit.
func TestOnSaleLimitRace(t *testing.T) {
	const (
		buyers = 8
		own    = 4 // each buyer's private tickets, all ordered at once
		limit  = 2
		shared = 8
		limit2 = 1
		tries  = 2 // each buyer's orders at once for shared tickets
	)
	env := map[string]string{}
	queue := queueKeys(t, env)
	h := newHarness(t, env)
	instances := []string{h.serve(), h.serve()}
	private, privTickets := h.event(time.Now().Add(-time.Second), limit, buyers*own)
	crowd, crowdTickets := h.event(time.Now().Add(-time.Second), limit2, shared)

	type result struct {
		buyer  int
		status int
		msg    string
	}
	// race sends, for each of the buyers, attempt orders at once, half through each instance.
	race := func(event string, buyers []int, attempt int, pick func(buyer, i int) string) []result {
		tokens, passes := make([]string, len(buyers)), make([]http.Header, len(buyers))
		for k, b := range buyers {
			user := fmt.Sprintf("buyer%02d", b)
			tokens[k] = testkit.Token(t, user, user+"@example.com")
			passes[k] = issue(t, queue, user, event, 5*time.Minute)
		}
		return testkit.AtOnce(len(buyers)*attempt, func(n int) result {
			k, i := n/attempt, n%attempt
			b := buyers[k]
			r := callWith(t, "POST", instances[(b+i)%2]+"/api/orders", tokens[k], map[string]string{"ticketId": pick(b, i)}, passes[k])
			res := result{buyer: b, status: r.Status}
			if r.Status != http.StatusCreated {
				res.msg = r.Message()
			}
			return res
		})
	}

	// Each buyer's own orders race each other (one buyer at a time: the stand-in's single
	// writer is slow under the race detector on a loaded machine).
	var private_ []result
	for b := range buyers {
		private_ = append(private_, race(private, []int{b}, own, func(b, i int) string { return privTickets[b*own+i] })...)
	}
	created := map[int]int{}
	for _, r := range private_ {
		switch {
		case r.status == http.StatusCreated:
			created[r.buyer]++
		case r.status == http.StatusConflict && r.msg == "Order limit reached":
		default:
			t.Errorf("buyer %d: %d %s", r.buyer, r.status, r.msg)
		}
	}
	for b := range buyers {
		if created[b] != limit {
			t.Errorf("buyer %d: %d orders created, want exactly the limit %d", b, created[b], limit)
		}
	}

	limited, reserved, won := 0, 0, 0
	all := make([]int, buyers)
	for b := range all {
		all[b] = b
	}
	for _, r := range race(crowd, all, tries, func(b, i int) string { return crowdTickets[(b*3+i*5)%shared] }) {
		switch {
		case r.status == http.StatusCreated:
			won++
		case r.status == http.StatusConflict && r.msg == "Order limit reached":
			limited++
		case r.status == http.StatusConflict && r.msg == "Ticket is already reserved":
			reserved++
		default:
			t.Errorf("buyer %d: %d %s", r.buyer, r.status, r.msg)
		}
	}
	t.Logf("crowd: %d created, %d over the limit, %d for a held ticket", won, limited, reserved)

	// What the database holds.
	ctx := context.Background()
	cur, err := h.st.Orders().Find(ctx, bson.M{"status": "created"})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		ID     string `bson:"_id"`
		UserID string `bson:"userId"`
		Ticket struct {
			ID      string `bson:"id"`
			EventID string `bson:"eventId"`
		} `bson:"ticket"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	perUser := map[string]int{}
	perTicket := map[string]int{}
	for _, d := range docs {
		perUser[d.Ticket.EventID+"/"+d.UserID]++
		perTicket[d.Ticket.ID]++
		if r, err := h.st.Replica(ctx, d.Ticket.ID); err != nil || r.Hold.OrderID != d.ID {
			t.Errorf("ticket %s held by %q (%v), want its live order %s", d.Ticket.ID, r.Hold.OrderID, err, d.ID)
		}
	}
	for k, n := range perUser {
		max := limit
		if k[:len(crowd)] == crowd {
			max = limit2
		}
		if n > max {
			t.Errorf("%s holds %d live orders, over the limit %d", k, n, max)
		}
	}
	for tk, n := range perTicket {
		if n > 1 {
			t.Errorf("ticket %s held by %d live orders", tk, n)
		}
	}
	if len(docs) != buyers*limit+won {
		t.Errorf("%d live orders stored, want %d", len(docs), buyers*limit+won)
	}
	if won == 0 || won > shared {
		t.Errorf("%d crowd orders created for %d tickets", won, shared)
	}
}

// The race, for real: two orders instances on one database and one JetStream; for each of
// 20 tickets, 50 users post an order at the same moment, half through each instance.
// Exactly one gets 201 and 49 get 409; once the winner cancels, the next order succeeds.
func TestConcurrentOrdersOnTwoInstances(t *testing.T) {
	const (
		tickets = 20
		racers  = 50
	)
	h := newHarness(t, nil)
	instances := []string{h.serve(), h.serve()}
	tokens := make([]string, racers)
	for i := range tokens {
		tokens[i] = testkit.Token(t, fmt.Sprintf("user%02d", i), fmt.Sprintf("user%02d@example.com", i))
	}

	type result struct {
		racer  int
		status int
		order  apiclient.Order
		msg    string
	}
	var won, refused, reordered int
	var ids []string
	start := time.Now()
	for n := range tickets {
		// Each ticket is listed just before its round, as in real use. (The stand-in scans
		// the whole replica for every conditional write, so this also keeps the test fast.)
		ticket := h.ticket(fmt.Sprintf("Show %d", n), 1000+int64(n))
		ids = append(ids, ticket)
		results := testkit.AtOnce(racers, func(i int) result {
			r := testkit.Call(t, "POST", instances[i%2]+"/api/orders", tokens[i], map[string]string{"ticketId": ticket})
			res := result{racer: i, status: r.Status}
			switch r.Status {
			case http.StatusCreated:
				r.JSON(&res.order)
			case http.StatusConflict:
				res.msg = r.Message()
			}
			return res
		})

		var winners []result
		conflicts := 0
		for _, r := range results {
			switch {
			case r.status == http.StatusCreated:
				winners = append(winners, r)
			case r.status == http.StatusConflict && r.msg == "Ticket is already reserved":
				conflicts++
			default:
				t.Errorf("ticket %d racer %d: %d %q", n, r.racer, r.status, r.msg)
			}
		}
		if len(winners) != 1 || conflicts != racers-1 {
			t.Fatalf("ticket %d: %d created and %d refused, want 1 and %d", n, len(winners), conflicts, racers-1)
		}
		won++
		refused += conflicts
		w := winners[0]

		// The winner cancels through the other instance; the next order succeeds.
		other := instances[(w.racer+1)%2]
		if r := testkit.Call(t, "DELETE", other+"/api/orders/"+w.order.ID, tokens[w.racer], nil); r.Status != http.StatusNoContent {
			t.Fatalf("ticket %d: DELETE = %d %s", n, r.Status, r.Body)
		}
		next := (w.racer + 1) % racers
		placeOrder(t, instances[n%2], tokens[next], ticket)
		reordered++
	}
	elapsed := time.Since(start)
	t.Logf("%d tickets: %d orders created, %d refused with 409, %d re-ordered after a cancel, in %v",
		tickets, won, refused, reordered, elapsed.Round(time.Millisecond))
	if won != tickets || refused != tickets*(racers-1) || reordered != tickets {
		t.Errorf("counts: %d %d %d", won, refused, reordered)
	}

	// What the database holds: per ticket, one cancelled order and one live order, which is
	// the ticket's holder.
	ctx := context.Background()
	for _, ticket := range ids {
		cur, err := h.st.Orders().Find(ctx, bson.M{"ticket.id": ticket})
		if err != nil {
			t.Fatal(err)
		}
		var docs []struct {
			ID     string `bson:"_id"`
			Status string `bson:"status"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		live := ""
		count := map[string]int{}
		for _, d := range docs {
			count[d.Status]++
			if d.Status == "created" {
				live = d.ID
			}
		}
		if len(docs) != 2 || count["created"] != 1 || count["cancelled"] != 1 {
			t.Errorf("ticket %s: orders %v, want one created and one cancelled", ticket, count)
		}
		if r, err := h.st.Replica(ctx, ticket); err != nil || r.Hold.OrderID != live {
			t.Errorf("ticket %s held by %q (%v), want the live order %q", ticket, r.Hold.OrderID, err, live)
		}
	}
}

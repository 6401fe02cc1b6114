package orders_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/apiclient"
	"ticketing/common/testkit"
)

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
		results := make(chan result, racers)
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i := range racers {
			wg.Go(func() {
				<-gate
				r := testkit.Call(t, "POST", instances[i%2]+"/api/orders", tokens[i], map[string]string{"ticketId": ticket})
				res := result{racer: i, status: r.Status}
				switch r.Status {
				case http.StatusCreated:
					r.JSON(&res.order)
				case http.StatusConflict:
					res.msg = r.Message()
				}
				results <- res
			})
		}
		close(gate)
		wg.Wait()
		close(results)

		var winners []result
		conflicts := 0
		for r := range results {
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

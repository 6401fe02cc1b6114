package store

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/testkit"
	"ticketing/services/orders/internal/order"
)

// The filter that Hold writes under is order.Hold.Free, asked of the database: for every
// kind of hold, the filter matches exactly when the domain says the ticket is free.
func TestFreeFilterIsTheDomainRule(t *testing.T) {
	ctx := t.Context()
	coll := testkit.Mongo(t).Collection(TicketsCollection)
	now := time.Now().UTC().Truncate(time.Millisecond)
	holds := map[string]order.Hold{
		"none":             {},
		"none, stale end":  {Until: now.Add(time.Hour)},
		"live":             {OrderID: "o1", Until: now.Add(time.Minute)},
		"ends now":         {OrderID: "o1", Until: now},
		"lapsed":           {OrderID: "o1", Until: now.Add(-time.Millisecond)},
		"permanent":        {OrderID: "o1", Until: order.Forever},
		"lapsed long ago":  {OrderID: "o1", Until: now.AddDate(-1, 0, 0)},
		"zero end, holder": {OrderID: "o1"},
	}
	for name, h := range holds {
		if _, err := coll.InsertOne(ctx, ticketDoc{ID: name, Title: "T", PriceCents: 1, Holder: h.OrderID, HoldUntil: h.Until}); err != nil {
			t.Fatal(err)
		}
	}
	for name, h := range holds {
		n, err := coll.CountDocuments(ctx, bson.M{"_id": name, "$or": free(now)})
		if err != nil {
			t.Fatal(err)
		}
		if got := n == 1; got != h.Free(now) {
			t.Errorf("%s: the filter matches %t, Hold.Free says %t", name, got, h.Free(now))
		}
	}
}

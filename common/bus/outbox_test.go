package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/testkit"
)

func TestOutboxRelayCrashBeforeRemoveRepublishesOnce(t *testing.T) {
	ctx := context.Background()
	c := connect(t, testkit.NATS(t))
	coll := testkit.Mongo(t).Collection("things")
	got := collect(t, c, events.StreamTickets, "ticket.>")

	envs := make([]bus.Envelope, 0, 3)
	for i := range 3 {
		e, err := bus.NewEnvelope(ctx, events.TicketUpdated{ID: "t1", Version: int64(i + 1), Title: "x", PriceCents: 100, UserID: "u"})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, e)
	}
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "t1", "state": 3, bus.OutboxField: envs}); err != nil {
		t.Fatal(err)
	}

	// The first relay publishes, then "crashes" before removing the events.
	crashed := errors.New("crash")
	r1 := bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet, AfterPublish: func(string) error { return crashed }})
	if err := r1.Flush(ctx); !errors.Is(err, crashed) {
		t.Fatalf("first relay: %v", err)
	}
	if n := pending(t, coll, "t1"); n != 3 {
		t.Fatalf("pending after crash = %d, want 3", n)
	}

	// A new relay (another replica, or the restarted one) finds them by polling.
	runCtx, cancel := context.WithCancel(ctx)
	r2 := bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet, PollInterval: 50 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- r2.Run(runCtx) }()
	testkit.Eventually(t, 5*time.Second, "outbox emptied", func() bool { return pending(t, coll, "t1") == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	time.Sleep(200 * time.Millisecond)
	msgs := got()
	if len(msgs) != 3 {
		t.Fatalf("%d events on the bus, want 3 (each exactly once)", len(msgs))
	}
	for i, m := range msgs {
		if m.Headers().Get(bus.HeaderMsgID) != envs[i].ID {
			t.Errorf("event %d: id %s, want %s (in order)", i, m.Headers().Get(bus.HeaderMsgID), envs[i].ID)
		}
	}
}

func TestOutboxRelayWakesOnNotify(t *testing.T) {
	ctx := context.Background()
	c := connect(t, testkit.NATS(t))
	coll := testkit.Mongo(t).Collection("things")
	got := collect(t, c, events.StreamTickets, "ticket.>")

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet, PollInterval: time.Hour})
	go func() { _ = r.Run(runCtx) }()

	e, err := bus.NewEnvelope(ctx, events.TicketCreated{ID: "t2", Title: "x", PriceCents: 100, UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "t2", bus.OutboxField: []bus.Envelope{e}}); err != nil {
		t.Fatal(err)
	}
	// A later write appends to the same outbox, in the same update as its change.
	e2, _ := bus.NewEnvelope(ctx, events.TicketUpdated{ID: "t2", Version: 1, Title: "y", PriceCents: 100, UserID: "u"})
	if _, err := coll.UpdateOne(ctx, bson.M{"_id": "t2"}, bson.M{"$set": bson.M{"title": "y"}, "$push": bus.PushOutbox(e2)}); err != nil {
		t.Fatal(err)
	}
	r.Notify("t2")
	testkit.Eventually(t, 5*time.Second, "published without a poll", func() bool { return len(got()) == 2 })
	testkit.Eventually(t, 5*time.Second, "outbox emptied", func() bool { return pending(t, coll, "t2") == 0 })
}

func pending(t *testing.T, coll *mongo.Collection, id string) int {
	t.Helper()
	var d struct {
		Outbox []bus.Envelope `bson:"outbox"`
	}
	if err := coll.FindOne(context.Background(), bson.M{"_id": id}).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return len(d.Outbox)
}

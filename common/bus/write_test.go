package bus_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/testkit"
)

// notices records what a Writer hands to the relay.
type notices struct {
	mu   sync.Mutex
	docs []string
	envs []bus.Envelope
}

func (n *notices) Notify(id string, envs ...bus.Envelope) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.docs = append(n.docs, id)
	n.envs = append(n.envs, envs...)
}

// The writer stores each change with its events in one write and hands exactly the stored
// events to the relay, which publishes them without a poll; a write that matches nothing
// stores and hands over nothing.
func TestWriterStoresEventsWithTheChangeAndHandsThemToTheRelay(t *testing.T) {
	ctx := context.Background()
	c := connect(t, testkit.NATS(t))
	coll := testkit.Mongo(t).Collection("things")
	got := collect(t, c, events.StreamTickets, "ticket.>")
	relay := bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet, PollInterval: time.Hour})
	seen := &notices{}
	w := bus.NewWriter(coll, tee{relay, seen})
	runRelay(t, relay)

	// The stored outbox is read where no relay runs: on coll the relay may publish and remove
	// the event before the test reads it.
	unrelayed := testkit.Mongo(t).Collection("unrelayed")
	held := &notices{}
	if err := bus.NewWriter(unrelayed, held).Insert(ctx, "t0", &thing{ID: "t0", Title: "x"}, ticket("t0")); err != nil {
		t.Fatal(err)
	}
	d := read(t, unrelayed, "t0")
	if len(d.Events) != 1 || d.Events[0].Subject != events.SubjectTicketCreated {
		t.Fatalf("inserted outbox %+v, want the ticket.created", d.Events)
	}
	if len(held.envs) != 1 || held.envs[0].ID != d.Events[0].ID {
		t.Fatalf("handed over %+v, want the stored ticket.created", held.envs)
	}

	if err := w.Insert(ctx, "t1", &thing{ID: "t1", Title: "x"}, ticket("t1")); err != nil {
		t.Fatal(err)
	}
	ok, err := w.Update(ctx, "t1", bson.D{{Key: "title", Value: "x"}}, bson.M{"$set": bson.M{"title": "y"}},
		bus.WithID("chosen-id", events.TicketUpdated{ID: "t1", Version: 1, Title: "y", PriceCents: 100, UserID: "u"}))
	if err != nil || !ok {
		t.Fatalf("update = %t, %v", ok, err)
	}
	// The condition no longer holds: nothing is written or handed over.
	ok, err = w.Update(ctx, "t1", bson.D{{Key: "title", Value: "x"}}, bson.M{"$set": bson.M{"title": "z"}},
		events.TicketUpdated{ID: "t1", Version: 2, Title: "z", PriceCents: 100, UserID: "u"})
	if err != nil || ok {
		t.Fatalf("update on a stale condition = %t, %v; want false, nil", ok, err)
	}
	var after thing
	ok, err = w.UpdateAndGet(ctx, "t1", nil, bson.M{"$set": bson.M{"title": "w"}}, &after)
	if err != nil || !ok || after.Title != "w" {
		t.Fatalf("update and get = %t, %v, title %q", ok, err, after.Title)
	}

	testkit.Eventually(t, 30*time.Second, "both events published without a poll", func() bool { return len(got()) == 2 })
	testkit.Eventually(t, 30*time.Second, "outbox emptied", func() bool { return done(t, coll, "t1") })
	msgs := got()
	if id := msgs[1].Headers().Get(bus.HeaderMsgID); id != "chosen-id" {
		t.Errorf("second event's id %q, want the chosen one", id)
	}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if len(seen.docs) != 2 || len(seen.envs) != 2 || seen.envs[1].ID != "chosen-id" {
		t.Errorf("handed to the relay: docs %v, %d events; want t1 twice, 2 events", seen.docs, len(seen.envs))
	}
	for i, m := range msgs {
		if m.Headers().Get(bus.HeaderMsgID) != seen.envs[i].ID {
			t.Errorf("event %d on the bus is not the one handed over", i)
		}
	}
}

// tee notifies both.
type tee [2]bus.Notifier

func (t tee) Notify(id string, envs ...bus.Envelope) {
	t[0].Notify(id, envs...)
	t[1].Notify(id, envs...)
}

func TestReplicaAppliesVersionsInOrderOnce(t *testing.T) {
	coll := testkit.Mongo(t).Collection("replica")
	type doc struct {
		ID      string `bson:"_id"`
		Title   string `bson:"title"`
		Version int64  `bson:"version"`
	}
	replay(t, coll, bus.ApplyVersion, doc{ID: "r1", Title: "a", Version: 0}, []write{
		{"version 1 before the document", 1, "b", bus.NotYet},
		{"version 2 before 1", 2, "c", bus.NotYet},
		{"version 1", 1, "b", bus.Applied},
		{"version 1 again", 1, "b again", bus.Duplicate},
		{"version 2", 2, "c", bus.Applied},
	})
	if bus.NotYet.Err() != bus.ErrNotYet || bus.Applied.Err() != nil || bus.Duplicate.Err() != nil {
		t.Fatal("Outcome.Err: only NotYet is bus.ErrNotYet")
	}
}

// ApplyLatest skips the versions that published nothing and never goes back.
func TestApplyLatestSkipsGapsNeverRollsBack(t *testing.T) {
	coll := testkit.Mongo(t).Collection("replica")
	replay(t, coll, bus.ApplyLatest, bson.M{"_id": "r1", "title": "a", "version": int64(0)}, []write{
		{"version 3 before the document", 3, "c", bus.NotYet},
		{"version 3 over 0", 3, "c", bus.Applied},
		{"version 2, late", 2, "b", bus.Duplicate},
		{"version 3 again", 3, "c again", bus.Duplicate},
	})
}

// write is one update of replica r1 to a title at a version, and the outcome it must have.
type write struct {
	what    string
	version int64
	title   string
	want    bus.Outcome
}

// replay makes replica r1 of coll with apply: the first write comes before the document is
// there, then doc is inserted (bus.Applied; again: bus.Duplicate), then come the other
// writes. It fails t on an outcome not wanted, or unless r1 ends with the title and version
// of the last write applied.
func replay(t *testing.T, coll *mongo.Collection, apply func(context.Context, *mongo.Collection, string, int64, bson.M) (bus.Outcome, error), doc any, writes []write) {
	t.Helper()
	ctx := t.Context()
	var last write
	for i, w := range writes {
		if i == 1 {
			out, err := bus.InsertReplica(ctx, coll, doc)
			expectOutcome(t, "insert", out, err, bus.Applied)
			out, err = bus.InsertReplica(ctx, coll, doc)
			expectOutcome(t, "insert again", out, err, bus.Duplicate)
		}
		out, err := apply(ctx, coll, "r1", w.version, bson.M{"title": w.title})
		expectOutcome(t, w.what, out, err, w.want)
		if w.want == bus.Applied {
			last = w
		}
	}
	d := testkit.Stored[struct {
		Title   string `bson:"title"`
		Version int64  `bson:"version"`
	}](t, coll, "r1")
	if d.Title != last.title || d.Version != last.version {
		t.Fatalf("replica %+v, want title %s at version %d", d, last.title, last.version)
	}
}

// expectOutcome fails t unless a replica update gave want without an error.
func expectOutcome(t *testing.T, what string, got bus.Outcome, err error, want bus.Outcome) {
	t.Helper()
	if err != nil || got != want {
		t.Fatalf("%s: %v, %v; want %v", what, got, err, want)
	}
}

package bus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/testkit"
)

// thing is an aggregate document with an outbox, as the services store theirs.
type thing struct {
	ID         string `bson:"_id"`
	Title      string `bson:"title"`
	bus.Outbox `bson:",inline"`
}

func updated(t testing.TB, id string, version int) bus.Envelope {
	t.Helper()
	e, err := bus.NewEnvelope(context.Background(), events.TicketUpdated{ID: id, Version: int64(version), Title: "x", PriceCents: 100, UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// runRelay runs r until the test ends and checks it stops cleanly.
func runRelay(t testing.TB, r *bus.Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func TestOutboxRelayCrashBeforeRemoveRepublishesOnce(t *testing.T) {
	ctx := context.Background()
	c := connect(t, testkit.NATS(t))
	coll := testkit.Mongo(t).Collection("things")
	got := collect(t, c, events.StreamTickets, "ticket.>")

	envs := []bus.Envelope{updated(t, "t1", 1), updated(t, "t1", 2), updated(t, "t1", 3)}
	if _, err := coll.InsertOne(ctx, thing{ID: "t1", Outbox: bus.NewOutbox(envs...)}); err != nil {
		t.Fatal(err)
	}

	// The first relay publishes, then "crashes" before removing the events.
	crashed := errors.New("crash")
	r1 := bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet, AfterPublish: func(string) error { return crashed }})
	if err := r1.Flush(ctx); !errors.Is(err, crashed) {
		t.Fatalf("first relay: %v", err)
	}
	if d := read(t, coll, "t1"); len(d.Events) != 3 || !d.Pending {
		t.Fatalf("after the crash: %d events pending (flag %t), want 3 (true)", len(d.Events), d.Pending)
	}

	// A new relay (another replica, or the restarted one) finds them by polling.
	runRelay(t, bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet, PollInterval: 50 * time.Millisecond}))
	testkit.Eventually(t, 30*time.Second, "outbox emptied and unflagged", func() bool { return done(t, coll, "t1") })

	// Each republished event was stored once: the stream holds 3, the collector sees them.
	if n := streamMsgs(t, c, events.StreamTickets); n != 3 {
		t.Fatalf("%d events on the bus, want 3 (each exactly once)", n)
	}
	testkit.Eventually(t, 30*time.Second, "3 events read back", func() bool { return len(got()) >= 3 })
	msgs := got()
	if len(msgs) != 3 {
		t.Fatalf("%d events read back, want 3 (each exactly once)", len(msgs))
	}
	for i, m := range msgs {
		if m.Headers().Get(bus.HeaderMsgID) != envs[i].ID {
			t.Errorf("event %d: id %s, want %s (in order)", i, m.Headers().Get(bus.HeaderMsgID), envs[i].ID)
		}
	}
}

func TestOutboxRelayPublishesNotifiedEventsWithoutAPoll(t *testing.T) {
	for _, withEvents := range []bool{true, false} {
		t.Run(fmt.Sprintf("events given %t", withEvents), func(t *testing.T) {
			ctx := context.Background()
			c := connect(t, testkit.NATS(t))
			db, queries := testkit.MongoRecording(t) // the relay's commands only
			coll := testkit.MongoClient(t).Database(db.Name()).Collection("things")
			got := collect(t, c, events.StreamTickets, "ticket.>")
			r := bus.NewRelay(c, db.Collection("things"), bus.RelayOptions{Logger: quiet, PollInterval: time.Hour})
			runRelay(t, r)
			notify := func(id string, envs ...bus.Envelope) {
				if withEvents {
					r.Notify(id, envs...)
				} else {
					r.Notify(id)
				}
			}

			e1 := updated(t, "t2", 1)
			if _, err := coll.InsertOne(ctx, thing{ID: "t2", Outbox: bus.NewOutbox(e1)}); err != nil {
				t.Fatal(err)
			}
			notify("t2", e1)
			// A later write appends to the same outbox, in the same update as its change.
			e2 := updated(t, "t2", 2)
			if _, err := coll.UpdateOne(ctx, bson.M{"_id": "t2"}, bus.AddOutbox(bson.M{"$set": bson.M{"title": "y"}}, e2)); err != nil {
				t.Fatal(err)
			}
			notify("t2", e2)
			testkit.Eventually(t, 30*time.Second, "published without a poll", func() bool { return len(got()) == 2 })
			testkit.Eventually(t, 30*time.Second, "outbox emptied and unflagged", func() bool { return done(t, coll, "t2") })
			// Given the events, the relay publishes them without reading the document back.
			if reads := queries.Count("find", bson.D{{Key: "_id", Value: ""}}); (reads == 0) != withEvents {
				t.Errorf("the relay read the document %d times", reads)
			}
			if d := read(t, coll, "t2"); d.Title != "y" {
				t.Errorf("title %q, want y: the relay's writes touched the document's state", d.Title)
			}
		})
	}
}

// A notified publish that fails (here the stream is gone; in a cluster, its leader died and
// the next is not elected yet) is tried again by the relay itself, not left to the poll.
func TestOutboxRelayRetriesAFailedPublishBeforeThePoll(t *testing.T) {
	ctx := context.Background()
	c := connect(t, testkit.NATS(t))
	coll := testkit.Mongo(t).Collection("things")
	if err := c.JS.DeleteStream(ctx, events.StreamTickets); err != nil {
		t.Fatal(err)
	}
	// The notified publish's failure, not the first pass's: that one schedules no retry.
	warnings := &countingHandler{msg: "outbox publish failed; retrying"}
	r := bus.NewRelay(c, coll, bus.RelayOptions{Logger: slog.New(warnings), PollInterval: time.Hour})
	runRelay(t, r)

	e := updated(t, "t9", 1)
	if _, err := coll.InsertOne(ctx, thing{ID: "t9", Outbox: bus.NewOutbox(e)}); err != nil {
		t.Fatal(err)
	}
	r.Notify("t9", e)
	testkit.Eventually(t, 30*time.Second, "the publish failed", func() bool { return warnings.n.Load() > 0 })
	if d := read(t, coll, "t9"); len(d.Events) != 1 || !d.Pending {
		t.Fatalf("after the failed publish: %d events pending (flag %t), want 1 (true)", len(d.Events), d.Pending)
	}

	if err := c.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	got := collect(t, c, events.StreamTickets, "ticket.>")
	testkit.Eventually(t, 30*time.Second, "published by a retry, an hour before the poll", func() bool { return len(got()) == 1 })
	testkit.Eventually(t, 30*time.Second, "outbox emptied and unflagged", func() bool { return done(t, coll, "t9") })
	if id := got()[0].Headers().Get(bus.HeaderMsgID); id != e.ID {
		t.Errorf("event %s published, want %s", id, e.ID)
	}
}

// relayBroken runs a relay with opts on a fresh collection, its failed batches counted, and
// notifies it of document id, whose outbox cannot be decoded. It returns the collection, the
// ticket events published, the count of failed batches and the relay.
func relayBroken(t *testing.T, id string, opts bus.RelayOptions) (*mongo.Collection, func() []jetstream.Msg, *countingHandler, *bus.Relay) {
	t.Helper()
	c := connect(t, testkit.NATS(t))
	coll := testkit.Mongo(t).Collection("things")
	got := collect(t, c, events.StreamTickets, "ticket.>")
	failures := &countingHandler{msg: "outbox publish failed; retrying"}
	opts.Logger = slog.New(failures)
	r := bus.NewRelay(c, coll, opts)
	runRelay(t, r)
	if _, err := coll.InsertOne(context.Background(), bson.M{"_id": id, bus.OutboxField: "not a list of events"}); err != nil {
		t.Fatal(err)
	}
	r.Notify(id)
	return coll, got, failures, r
}

// A notified document whose read fails (here it cannot be decoded; in production, a
// failover or a timeout) is read again by the relay itself, not left to the poll.
func TestOutboxRelayRetriesAFailedReadBeforeThePoll(t *testing.T) {
	coll, got, failures, _ := relayBroken(t, "t7", bus.RelayOptions{PollInterval: time.Hour})
	testkit.Eventually(t, 30*time.Second, "the read failed", func() bool { return failures.n.Load() > 0 })

	e := updated(t, "t7", 1)
	if _, err := coll.ReplaceOne(context.Background(), bson.M{"_id": "t7"}, thing{ID: "t7", Outbox: bus.NewOutbox(e)}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "published by a retry, an hour before the poll", func() bool { return len(got()) == 1 })
	testkit.Eventually(t, 30*time.Second, "outbox emptied and unflagged", func() bool { return done(t, coll, "t7") })
	if id := got()[0].Headers().Get(bus.HeaderMsgID); id != e.ID {
		t.Errorf("event %s published, want %s", id, e.ID)
	}
}

// A notified document that keeps failing is tried again a bounded number of times, its delay
// doubling with each of its own failures, however many other documents the relay publishes
// meanwhile; then it is left to the poll.
func TestOutboxRelayBacksOffPerDocument(t *testing.T) {
	// Tried at once, then after 1, 2, 4, 8, 16 and 32 ms; a 64 ms delay is the poll's.
	const tries = 7
	coll, got, failures, r := relayBroken(t, "broken", bus.RelayOptions{RetryDelay: time.Millisecond,
		PollInterval: 64 * time.Millisecond})
	// Other documents' events go out meanwhile, for far longer than the broken one's delays.
	const others = 200
	for i := range others {
		id := fmt.Sprintf("ok%d", i)
		e := updated(t, id, 1)
		if _, err := coll.InsertOne(context.Background(), thing{ID: id, Outbox: bus.NewOutbox(e)}); err != nil {
			t.Fatal(err)
		}
		r.Notify(id, e)
	}
	testkit.Eventually(t, 30*time.Second, "the other documents' events published", func() bool { return len(got()) == others })
	if n := failures.n.Load(); n < 1 || n > tries {
		t.Fatalf("the broken document failed %d times, want 1 to %d", n, tries)
	}
}

// A write that lands after the relay published and before it removed keeps the document
// flagged: its event is published by the next poll.
func TestOutboxRelayKeepsTheFlagForAnEventWrittenMeanwhile(t *testing.T) {
	ctx := context.Background()
	c := connect(t, testkit.NATS(t))
	coll := testkit.Mongo(t).Collection("things")
	got := collect(t, c, events.StreamTickets, "ticket.>")

	e1, e2 := updated(t, "t3", 1), updated(t, "t3", 2)
	if _, err := coll.InsertOne(ctx, thing{ID: "t3", Outbox: bus.NewOutbox(e1)}); err != nil {
		t.Fatal(err)
	}
	r := bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet, AfterPublish: func(string) error {
		_, err := coll.UpdateOne(ctx, bson.M{"_id": "t3"}, bus.AddOutbox(bson.M{}, e2))
		return err
	}})
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if d := read(t, coll, "t3"); len(d.Events) != 1 || d.Events[0].ID != e2.ID || !d.Pending {
		t.Fatalf("after the first pass: %+v, want only the second event, flagged", d.Outbox)
	}
	r = bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet})
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !done(t, coll, "t3") {
		t.Fatalf("after the second pass: %+v, want empty and unflagged", read(t, coll, "t3").Outbox)
	}
	testkit.Eventually(t, 30*time.Second, "both events on the bus", func() bool { return len(got()) == 2 })
}

// Documents written without the flag (before it existed) are found by the relay's first pass.
func TestOutboxRelayFirstPassFindsUnflaggedDocuments(t *testing.T) {
	ctx := context.Background()
	c := connect(t, testkit.NATS(t))
	coll := testkit.Mongo(t).Collection("things")
	got := collect(t, c, events.StreamTickets, "ticket.>")
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "t4", bus.OutboxField: []bus.Envelope{updated(t, "t4", 1)}}); err != nil {
		t.Fatal(err)
	}
	runRelay(t, bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet, PollInterval: time.Hour}))
	testkit.Eventually(t, 30*time.Second, "published", func() bool { return len(got()) == 1 })
	testkit.Eventually(t, 30*time.Second, "outbox emptied", func() bool { return done(t, coll, "t4") })
}

// Writers on several documents, each notifying one of two relays (replicas) that also
// poll: every event reaches the bus exactly once and every outbox ends empty and unflagged.
func TestOutboxRelaysUnderConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	c := connect(t, testkit.NATS(t))
	coll := testkit.Mongo(t).Collection("things")
	got := collect(t, c, events.StreamTickets, "ticket.>")
	const docs, writers, writesEach = 10, 8, 12 // 96 events
	for i := range docs {
		if _, err := coll.InsertOne(ctx, thing{ID: fmt.Sprintf("d%d", i), Outbox: bus.NewOutbox()}); err != nil {
			t.Fatal(err)
		}
	}
	relays := []*bus.Relay{
		bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet, PollInterval: 100 * time.Millisecond, BatchSize: 8}),
		bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet, PollInterval: 100 * time.Millisecond, BatchSize: 8}),
	}
	for _, r := range relays {
		runRelay(t, r)
	}
	var wg sync.WaitGroup
	ids := make(chan string, writers*writesEach)
	for w := range writers {
		wg.Go(func() {
			for i := range writesEach {
				doc := fmt.Sprintf("d%d", rand.N(docs))
				env := updated(t, doc, w*1000+i)
				if _, err := coll.UpdateOne(ctx, bson.M{"_id": doc}, bus.AddOutbox(bson.M{}, env)); err != nil {
					t.Error(err)
					return
				}
				ids <- env.ID
				relays[rand.N(len(relays))].Notify(doc, env)
			}
		})
	}
	wg.Wait()
	close(ids)
	want := map[string]bool{}
	for id := range ids {
		want[id] = true
	}

	// Seconds on an idle machine; the deadline allows for a loaded one.
	testkit.Eventually(t, 2*time.Minute, "every outbox emptied and unflagged", func() bool {
		n, err := coll.CountDocuments(ctx, bson.M{"$or": bson.A{
			bson.M{bus.OutboxPendingField: true}, bson.M{bus.OutboxField + ".0": bson.M{"$exists": true}}}})
		return err == nil && n == 0
	})
	if n := streamMsgs(t, c, events.StreamTickets); n != uint64(len(want)) {
		t.Errorf("%d events stored on the bus, want %d", n, len(want))
	}
	var seen map[string]int
	testkit.Eventually(t, 30*time.Second, "every event read back", func() bool {
		seen = map[string]int{}
		for _, m := range got() {
			seen[m.Headers().Get(bus.HeaderMsgID)]++
		}
		return len(seen) >= len(want)
	})
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("event %s on the bus %d times, want 1", id, seen[id])
		}
	}
}

// streamMsgs is the number of messages stream holds.
func streamMsgs(t *testing.T, c *bus.Conn, stream string) uint64 {
	t.Helper()
	s, err := c.JS.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func read(t *testing.T, coll *mongo.Collection, id string) thing {
	t.Helper()
	return testkit.Stored[thing](t, coll, id)
}

// done reports whether id's outbox is empty and unflagged.
func done(t *testing.T, coll *mongo.Collection, id string) bool {
	d := read(t, coll, id)
	return len(d.Events) == 0 && !d.Pending
}

// The poll leaves alone a document whose events this relay published and is removing:
// publishing and removing them again would cost a publish and writes that find nothing.
func TestOutboxPollLeavesADocumentWhoseRemovalIsQueued(t *testing.T) {
	ctx := t.Context()
	c := connect(t, testkit.NATS(t))
	coll := testkit.Mongo(t).Collection("things")
	// t0, written before the relay starts, is the first pass's: once it is removed, the
	// first pass is over.
	if _, err := coll.InsertOne(ctx, thing{ID: "t0", Outbox: bus.NewOutbox(updated(t, "t0", 1))}); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	var removals atomic.Int32
	r := bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet, PollInterval: time.Hour, AfterPublish: func(id string) error {
		if id == "t1" && removals.Add(1) == 1 {
			<-release
		}
		return nil
	}})
	runRelay(t, r)
	testkit.Eventually(t, 30*time.Second, "the first pass removed t0", func() bool { return done(t, coll, "t0") })

	if err := bus.NewWriter(coll, r).Insert(ctx, "t1", &thing{ID: "t1", Title: "x"}, ticket("t1")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "t1 published and its removal begun", func() bool { return removals.Load() == 1 })
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := removals.Load(); n != 1 {
		t.Errorf("the poll published t1 again and removed it (%d removals), while its removal was queued", n)
	}
	once.Do(func() { close(release) })
	testkit.Eventually(t, 30*time.Second, "t1's outbox emptied", func() bool { return done(t, coll, "t1") })
	if err := r.Flush(ctx); err != nil || removals.Load() != 1 {
		t.Errorf("a poll after the removal: %v, %d removals; want nothing to do", err, removals.Load())
	}
}

// The relay's poll and removals are answered from indexes (checked on MongoDB and on the
// stand-in's PostgreSQL backend). Only its first pass after a start, for documents written
// before the pending flag existed, reads the whole collection.
func TestOutboxRelayQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	c := connect(t, testkit.NATS(t))
	db, queries := testkit.MongoRecording(t)
	coll := db.Collection("things")
	r := bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet})
	if err := r.CreateIndex(ctx); err != nil {
		t.Fatal(err)
	}
	e1, e2 := updated(t, "t5", 1), updated(t, "t6", 1)
	if _, err := coll.InsertOne(ctx, thing{ID: "t5", Outbox: bus.NewOutbox(e1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, thing{ID: "t6", Outbox: bus.NewOutbox(e2)}); err != nil {
		t.Fatal(err)
	}
	// t6 gains an event between the publish and the removal: removal by value, then the flag.
	r = bus.NewRelay(c, coll, bus.RelayOptions{Logger: quiet, AfterPublish: func(id string) error {
		if id != "t6" {
			return nil
		}
		_, err := coll.UpdateOne(ctx, bson.M{"_id": "t6"}, bus.AddOutbox(bson.M{}, updated(t, "t6", 2)))
		return err
	}})
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	queries.RequireIndexed(t, db)
}

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
	// An update that pushes to an array of its own keeps its push beside the outbox's.
	if ok, err := bus.NewWriter(unrelayed, held).Update(ctx, "t0", nil, bson.M{"$push": bson.M{"tags": "a"}}, ticket("t0")); err != nil || !ok {
		t.Fatalf("update with a $push = %t, %v", ok, err)
	}
	var tagged struct {
		Tags   []string   `bson:"tags"`
		Outbox []bson.Raw `bson:"outbox"`
	}
	if err := unrelayed.FindOne(ctx, bson.M{"_id": "t0"}).Decode(&tagged); err != nil || !slices.Equal(tagged.Tags, []string{"a"}) || len(tagged.Outbox) != 2 {
		t.Fatalf("after an update with a $push: tags %v, %d events, %v; want [a] and 2", tagged.Tags, len(tagged.Outbox), err)
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

package testkit_test

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing/common/testkit"
)

// The behaviours of MongoDB that the services rely on, checked against
// whichever MongoDB the test kit hands out: MONGODB_URI or the stand-in.

const racers = 50

// race runs f in racers goroutines released together, and returns how many
// returned nil. Any error other than one that lose accepts fails t.
func race(t *testing.T, f func() error, lose func(error) bool) int {
	t.Helper()
	var (
		wins  atomic.Int32
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for range racers {
		wg.Go(func() {
			<-start
			switch err := f(); {
			case err == nil:
				wins.Add(1)
			case !lose(err):
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	return int(wins.Load())
}

func TestUniqueIndexAdmitsOneOfConcurrentInserts(t *testing.T) {
	ctx := t.Context()
	coll := testkit.Mongo(t).Collection("users")
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "email", Value: 1}},
		Options: options.Index().SetUnique(true),
	})
	if err != nil {
		t.Fatal(err)
	}

	wins := race(t, func() error {
		_, err := coll.InsertOne(ctx, bson.M{"email": "a@example.com"})
		return err
	}, mongo.IsDuplicateKeyError)

	if wins != 1 {
		t.Errorf("%d of %d inserts won, want 1", wins, racers)
	}
	if n, err := coll.CountDocuments(ctx, bson.M{}); err != nil || n != 1 {
		t.Errorf("CountDocuments = %d, %v; want 1", n, err)
	}
}

func TestConditionalUpdateAdmitsOneOfConcurrentWriters(t *testing.T) {
	ctx := t.Context()
	coll := testkit.Mongo(t).Collection("tickets")
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "t1", "version": 0}); err != nil {
		t.Fatal(err)
	}

	const rounds = 20
	for v := range rounds {
		wins := race(t, func() error {
			return coll.FindOneAndUpdate(ctx,
				bson.M{"_id": "t1", "version": v},
				bson.M{"$inc": bson.M{"version": 1}},
			).Err()
		}, func(err error) bool { return errors.Is(err, mongo.ErrNoDocuments) })
		if wins != 1 {
			t.Fatalf("round %d: %d of %d conditional updates won, want 1", v, wins, racers)
		}
	}

	got := testkit.Stored[struct{ Version int }](t, coll, "t1")
	if got.Version != rounds {
		t.Errorf("version = %d, want %d", got.Version, rounds)
	}
}

// outboxDoc is an aggregate with its pending events, as the services keep it.
type outboxDoc struct {
	ID      string        `bson:"_id"`
	Status  string        `bson:"status"`
	Version int           `bson:"version"`
	Outbox  []outboxEvent `bson:"outbox"`
}

type outboxEvent struct {
	ID      string `bson:"id"`
	Subject string `bson:"subject"`
}

func TestOutboxPushAndPull(t *testing.T) {
	ctx := t.Context()
	coll := testkit.Mongo(t).Collection("orders")
	if _, err := coll.InsertOne(ctx, outboxDoc{ID: "o1", Status: "created", Outbox: []outboxEvent{}}); err != nil {
		t.Fatal(err)
	}

	// A state change and its event in one conditional write.
	res, err := coll.UpdateOne(ctx,
		bson.M{"_id": "o1", "status": "created", "version": 0},
		bson.M{
			"$set":  bson.M{"status": "cancelled"},
			"$inc":  bson.M{"version": 1},
			"$push": bson.M{"outbox": bson.M{"$each": []outboxEvent{{ID: "e1", Subject: "order.cancelled"}, {ID: "e2", Subject: "order.x"}}}},
		})
	if err != nil || res.MatchedCount != 1 || res.ModifiedCount != 1 {
		t.Fatalf("UpdateOne $set+$inc+$push = %+v, %v; want 1 matched and modified", res, err)
	}
	// The same write again no longer matches.
	res, err = coll.UpdateOne(ctx,
		bson.M{"_id": "o1", "status": "created", "version": 0},
		bson.M{"$push": bson.M{"outbox": outboxEvent{ID: "e3"}}})
	if err != nil || res.MatchedCount != 0 {
		t.Fatalf("stale UpdateOne = %+v, %v; want 0 matched", res, err)
	}

	// The relay removes what it has published by the events' exact values,
	// as read back: the stand-in's $pull compares whole elements and ignores
	// conditions such as {id: "e1"}.
	var pending struct {
		Outbox []bson.Raw `bson:"outbox"`
	}
	if err := coll.FindOne(ctx, bson.M{"_id": "o1"}).Decode(&pending); err != nil || len(pending.Outbox) != 2 {
		t.Fatalf("pending events = %d, %v; want 2", len(pending.Outbox), err)
	}
	res, err = coll.UpdateOne(ctx,
		bson.M{"_id": "o1"},
		bson.M{"$pull": bson.M{"outbox": pending.Outbox[0]}})
	if err != nil || res.ModifiedCount != 1 {
		t.Fatalf("UpdateOne $pull = %+v, %v; want 1 modified", res, err)
	}

	got := testkit.Stored[outboxDoc](t, coll, "o1")
	want := outboxDoc{ID: "o1", Status: "cancelled", Version: 1, Outbox: []outboxEvent{{ID: "e2", Subject: "order.x"}}}
	if got.Status != want.Status || got.Version != want.Version || len(got.Outbox) != 1 || got.Outbox[0] != want.Outbox[0] {
		t.Errorf("document = %+v, want %+v", got, want)
	}
}

func TestFindOneAndUpdateReturnsUpdatedDocument(t *testing.T) {
	ctx := t.Context()
	coll := testkit.Mongo(t).Collection("tickets")
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "t1", "price": 10, "version": 3}); err != nil {
		t.Fatal(err)
	}

	var got struct {
		Price   int
		Version int
	}
	err := coll.FindOneAndUpdate(ctx,
		bson.M{"_id": "t1", "version": 3},
		bson.M{"$set": bson.M{"price": 25}, "$inc": bson.M{"version": 1}},
		options.FindOneAndUpdate().SetReturnDocument(options.After),
	).Decode(&got)
	if err != nil {
		t.Fatal(err)
	}
	if got.Price != 25 || got.Version != 4 {
		t.Errorf("returned price %d version %d, want 25 and 4", got.Price, got.Version)
	}
}

func TestQueries(t *testing.T) {
	ctx := t.Context()
	coll := testkit.Mongo(t).Collection("orders")
	now := time.Now().UTC().Truncate(time.Millisecond) // BSON dates hold milliseconds
	docs := []any{
		bson.M{"_id": "a", "status": "created", "expiresAt": now.Add(-2 * time.Minute), "n": 3},
		bson.M{"_id": "b", "status": "awaiting:payment", "expiresAt": now.Add(-time.Minute), "n": 1},
		bson.M{"_id": "c", "status": "complete", "expiresAt": now.Add(-time.Minute), "n": 2},
		bson.M{"_id": "d", "status": "created", "expiresAt": now.Add(time.Minute), "n": 4},
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}

	ids := func(filter bson.M, opts ...options.Lister[options.FindOptions]) []string {
		t.Helper()
		cur, err := coll.Find(ctx, filter, opts...)
		if err != nil {
			t.Fatal(err)
		}
		var got []struct {
			ID string `bson:"_id"`
		}
		if err := cur.All(ctx, &got); err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(got))
		for i, d := range got {
			out[i] = d.ID
		}
		return out
	}
	sortedByID := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})

	for _, tc := range []struct {
		name   string
		filter bson.M
		opts   *options.FindOptionsBuilder
		want   []string
	}{
		{"sort and limit", bson.M{}, options.Find().SetSort(bson.D{{Key: "n", Value: -1}}).SetLimit(2), []string{"d", "a"}},
		{"$lt on a date", bson.M{"expiresAt": bson.M{"$lt": now}}, sortedByID, []string{"a", "b", "c"}},
		{"$in", bson.M{"status": bson.M{"$in": []string{"created", "awaiting:payment"}}}, sortedByID, []string{"a", "b", "d"}},
		{"sweeper's query", bson.M{
			"status":    bson.M{"$in": []string{"created", "awaiting:payment"}},
			"expiresAt": bson.M{"$lt": now},
		}, options.Find().SetSort(bson.D{{Key: "expiresAt", Value: 1}}).SetLimit(10), []string{"a", "b"}},
	} {
		if got := ids(tc.filter, tc.opts); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Each test gets a database of its own.
func TestMongoDatabasesAreFreshAndDistinct(t *testing.T) {
	ctx := t.Context()
	a, b := testkit.Mongo(t), testkit.Mongo(t)
	if a.Name() == b.Name() {
		t.Fatalf("two calls gave the same database %q", a.Name())
	}
	if _, err := a.Collection("c").InsertOne(ctx, bson.M{"x": 1}); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Collection("c").CountDocuments(ctx, bson.M{}); err != nil || n != 0 {
		t.Errorf("other database holds %d documents (%v), want 0", n, err)
	}
}

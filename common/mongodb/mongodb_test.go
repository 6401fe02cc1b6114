package mongodb_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing/common/config"
	"ticketing/common/mongodb"
	"ticketing/common/testkit"
)

type counter struct {
	ID      string `bson:"_id"`
	N       int    `bson:"n"`
	Version int64  `bson:"version"`
}

// Racing writers each add one to a counter through Update, conditional on the version read:
// every increment lands exactly once, whoever loses a race reads and decides again.
func TestUpdateUnderRacingWriters(t *testing.T) {
	ctx := context.Background()
	coll := testkit.Mongo(t).Collection("counters")
	if _, err := coll.InsertOne(ctx, counter{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	read := func(ctx context.Context) (counter, error) {
		var c counter
		err := coll.FindOne(ctx, bson.M{"_id": "c"}).Decode(&c)
		return c, err
	}
	increment := func(c counter) (counter, error) { c.N++; c.Version++; return c, nil }
	write := func(ctx context.Context, prev, next counter) error {
		res, err := coll.UpdateOne(ctx, bson.M{"_id": "c", "version": prev.Version},
			bson.M{"$set": bson.M{"n": next.N, "version": next.Version}})
		if err == nil && res.MatchedCount == 0 {
			err = mongodb.ErrChanged
		}
		return err
	}
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			_, err := mongodb.Update(ctx, 100, read, increment, write)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c, err := read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.N != writers || c.Version != writers {
		t.Fatalf("counter %d at version %d, want %d and %d", c.N, c.Version, writers, writers)
	}
}

func TestUpdateOutcomes(t *testing.T) {
	ctx := context.Background()
	refused := errors.New("refused")
	reads := 0
	read := func(context.Context) (int, error) { reads++; return reads, nil }
	double := func(n int) (int, error) { return 2 * n, nil }

	// Two lost races, then the write lands: the state of the third read.
	losses := 2
	got, err := mongodb.Update(ctx, 5, read, double, func(context.Context, int, int) error {
		if losses > 0 {
			losses--
			return mongodb.ErrChanged
		}
		return nil
	})
	if err != nil || got != 6 || reads != 3 {
		t.Fatalf("after two lost races: %d, %v, %d reads; want 6, nil, 3", got, err, reads)
	}

	// A refusal of the domain returns the state read, and the error as it is.
	reads = 0
	got, err = mongodb.Update(ctx, 5, read, func(int) (int, error) { return 0, refused }, func(context.Context, int, int) error { return nil })
	if !errors.Is(err, refused) || got != 1 {
		t.Fatalf("refused: %d, %v; want 1 and the error", got, err)
	}

	// Races lost every time: the error says so after the attempts.
	reads = 0
	_, err = mongodb.Update(ctx, 3, read, double, func(context.Context, int, int) error { return mongodb.ErrChanged })
	if !errors.Is(err, mongodb.ErrChanged) || reads != 3 {
		t.Fatalf("always lost: %v after %d reads; want ErrChanged after 3", err, reads)
	}
}

func TestLoadListingReads(t *testing.T) {
	for _, tc := range []struct {
		mode, staleness string
		want            string // ListingReads.String, or "error"
	}{
		{"", "", "primary"},
		{"secondaryPreferred", "", "secondaryPreferred"},
		{"secondaryPreferred", "90s", "secondaryPreferred (max staleness 1m30s)"},
		{"nearest", "2m", "nearest (max staleness 2m0s)"},
		{"primary", "90s", "error"},
		{"", "120s", "error"},
		{"secondary", "30s", "error"},
		{"secondary", "90.5s", "error"},
		{"secondary", "-90s", "error"},
		{"Secondary", "", "error"},
		{"fastest", "", "error"},
	} {
		env := config.FromMap(map[string]string{"MONGODB_LISTING_READ_PREFERENCE": tc.mode, "MONGODB_LISTING_MAX_STALENESS": tc.staleness})
		l := mongodb.LoadListingReads(env)
		got := l.String()
		if env.Err() != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("%q, %q: %s (%v), want %s", tc.mode, tc.staleness, got, env.Err(), tc.want)
			continue
		}
		if got == "error" {
			continue
		}
		rp, err := l.ReadPref()
		if err != nil {
			t.Errorf("%q, %q: ReadPref: %v", tc.mode, tc.staleness, err)
			continue
		}
		if ms, ok := rp.MaxStaleness(); ok != (tc.staleness != "") || (ok && ms != l.MaxStaleness) {
			t.Errorf("%q, %q: max staleness %s %v", tc.mode, tc.staleness, ms, ok)
		}
	}
}

// FindOne returns the document as made, the caller's not-found error when none matches, and
// any other error wrapped in what (or as it is).
func TestFindOne(t *testing.T) {
	ctx := context.Background()
	coll := testkit.Mongo(t).Collection("counters")
	if _, err := coll.InsertOne(ctx, counter{ID: "c", N: 7}); err != nil {
		t.Fatal(err)
	}
	errNone := errors.New("no such counter")
	n := func(c counter) int { return c.N }
	if got, err := mongodb.FindOne(ctx, coll, bson.M{"_id": "c"}, errNone, "read counter", n); err != nil || got != 7 {
		t.Fatalf("found %d, %v; want 7", got, err)
	}
	if got, err := mongodb.FindOne(ctx, coll, bson.M{"_id": "x"}, errNone, "read counter", n); err != errNone || got != 0 {
		t.Fatalf("missing: %d, %v; want 0 and the not-found error as it is", got, err)
	}
	// A filter the server refuses: an error other than not-found.
	bad := bson.M{"_id": bson.M{"$nosuchop": 1}}
	if _, err := mongodb.FindOne(ctx, coll, bad, errNone, "read counter", n); err == nil || errors.Is(err, errNone) || !strings.HasPrefix(err.Error(), "read counter: ") {
		t.Fatalf("refused filter: %v; want it wrapped in %q", err, "read counter")
	}
	if _, err := mongodb.FindOne(ctx, coll, bad, errNone, "", n); err == nil || strings.HasPrefix(err.Error(), "read counter") {
		t.Fatalf("refused filter, no what: %v; want the error as it is", err)
	}
}

// Find returns the documents as made, an empty (not nil) slice when none matches, and an
// error wrapped in what (or as it is).
func TestFind(t *testing.T) {
	ctx := context.Background()
	coll := testkit.Mongo(t).Collection("counters")
	for _, c := range []counter{{ID: "a", N: 1}, {ID: "b", N: 2}} {
		if _, err := coll.InsertOne(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	n := func(c counter) int { return c.N }
	got, err := mongodb.Find(ctx, coll, bson.M{}, "list counters", n, options.Find().SetSort(bson.M{"_id": 1}))
	if err != nil || !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("found %v, %v; want [1 2]", got, err)
	}
	if got, err := mongodb.Find(ctx, coll, bson.M{"_id": "x"}, "list counters", n); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("none: %#v, %v; want an empty slice", got, err)
	}
	bad := bson.M{"_id": bson.M{"$nosuchop": 1}}
	if _, err := mongodb.Find(ctx, coll, bad, "list counters", n); err == nil || !strings.HasPrefix(err.Error(), "list counters: ") {
		t.Fatalf("refused filter: %v; want it wrapped in %q", err, "list counters")
	}
	if _, err := mongodb.Find(ctx, coll, bad, "", n); err == nil || strings.HasPrefix(err.Error(), "list counters") {
		t.Fatalf("refused filter, no what: %v; want the error as it is", err)
	}
}

package testkit

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing/common/standin"
)

// Queries records the filters of the commands sent through a database, so that a test can
// check that an index serves every query a store makes.
type Queries struct {
	mu      sync.Mutex
	filters map[string]recorded // by collection and shape of the filter
	counts  map[string]int      // by command name and shape of the filter
}

type recorded struct {
	coll   string
	filter bson.Raw
}

// MongoRecording is [Mongo] through a client of its own that records the filter of every
// find, count, update, delete and findAndModify it sends.
func MongoRecording(t testing.TB) (*mongo.Database, *Queries) {
	t.Helper()
	q := &Queries{filters: map[string]recorded{}, counts: map[string]int{}}
	client, err := mongo.Connect(options.Client().ApplyURI(MongoURI(t)).SetMonitor(&event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) { q.record(e.CommandName, e.Command) },
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	db := client.Database(Mongo(t).Name())
	return db, q
}

// filterFields names where each command keeps its filters: a field of the command, or a
// field of each of its statements.
var filterFields = map[string][2]string{
	"find":          {"", "filter"},
	"count":         {"", "query"},
	"findAndModify": {"", "query"},
	"update":        {"updates", "q"},
	"delete":        {"deletes", "q"},
}

func (q *Queries) record(name string, cmd bson.Raw) {
	where, ok := filterFields[name]
	if !ok {
		return
	}
	coll, _ := cmd.Lookup(name).StringValueOK()
	var filters []bson.Raw
	if where[0] == "" {
		if f, ok := cmd.Lookup(where[1]).DocumentOK(); ok {
			filters = append(filters, f)
		}
	} else if arr, ok := cmd.Lookup(where[0]).ArrayOK(); ok {
		vals, _ := arr.Values()
		for _, v := range vals {
			if st, ok := v.DocumentOK(); ok {
				if f, ok := st.Lookup(where[1]).DocumentOK(); ok {
					filters = append(filters, f)
				}
			}
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, f := range filters {
		q.counts[name+" "+shape(f)]++
		key := coll + " " + shape(f)
		if _, seen := q.filters[key]; !seen {
			q.filters[key] = recorded{coll: coll, filter: slices.Clone(f)}
		}
	}
}

// Count is how many commands name (find, update...) were sent with a filter of the same
// fields and operators as filter.
func (q *Queries) Count(name string, filter bson.D) int {
	raw, err := bson.Marshal(filter)
	if err != nil {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.counts[name+" "+shape(raw)]
}

// shape is a filter's fields and operators without their values.
func shape(d bson.Raw) string {
	elems, _ := d.Elements()
	var b strings.Builder
	b.WriteString("{")
	for _, e := range elems {
		b.WriteString(e.Key())
		if sub, ok := e.Value().DocumentOK(); ok {
			b.WriteString(":" + shape(sub))
		}
		b.WriteString(",")
	}
	b.WriteString("}")
	return b.String()
}

// RequireIndexed fails t for each recorded query that no index serves (see [RequireIndexed]).
// A filter of no fields (the whole collection) is skipped.
func (q *Queries) RequireIndexed(t testing.TB, db *mongo.Database) {
	t.Helper()
	q.mu.Lock()
	recs := make([]recorded, 0, len(q.filters))
	for _, r := range q.filters {
		recs = append(recs, r)
	}
	q.mu.Unlock()
	if len(recs) == 0 {
		t.Fatal("testkit: no query was recorded")
	}
	for _, r := range recs {
		if len(r.filter) <= 5 {
			continue
		}
		RequireIndexed(t, db.Collection(r.coll), r.filter)
	}
}

// RequireIndexed fails t unless the MongoDB under test answers find(filter) on coll from an
// index, as explain reports it: on MongoDB, a winning plan without a collection scan; on the
// stand-in's PostgreSQL backend, PostgreSQL's plan of the query FerretDB pushed down, with
// an index scan (the test kit's databases there plan as a big one would, taking a usable
// index over a scan of a small table). FerretDB's SQLite backend reports no plan to check:
// there it only logs.
func RequireIndexed(t testing.TB, coll *mongo.Collection, filter any) {
	t.Helper()
	var res bson.M
	err := coll.Database().RunCommand(context.Background(), bson.D{
		{Key: "explain", Value: bson.D{{Key: "find", Value: coll.Name()}, {Key: "filter", Value: filter}}},
	}).Decode(&res)
	if err != nil {
		t.Fatalf("explain find %v on %s: %v", filter, coll.Name(), err)
	}
	b, err := json.Marshal(res["queryPlanner"])
	if err != nil {
		t.Fatal(err)
	}
	plan := string(b)
	switch {
	case os.Getenv(EnvMongoURI) != "":
		if strings.Contains(plan, `"COLLSCAN"`) || !strings.Contains(plan, "winningPlan") {
			t.Errorf("find %v on %s scans the collection: %s", filter, coll.Name(), plan)
		}
	case os.Getenv(EnvMongoBackend) == standin.BackendPostgreSQL:
		if !strings.Contains(plan, "Index Scan") {
			t.Errorf("find %v on %s uses no index: %s", filter, coll.Name(), plan)
		}
	default:
		t.Logf("find %v on %s: index use not checked on the SQLite backend (%s=postgresql checks it)", filter, coll.Name(), EnvMongoBackend)
	}
}

// EveryQueryIndexed makes a service's store with newStore on a database that records what
// it is asked ([MongoRecording]), ensures the store's indexes, lets use run each of the
// store's queries (failing t itself when one fails), and then fails t when a query filters
// on fields that no index leads with ([Queries.RequireIndexed]).
func EveryQueryIndexed[S interface {
	EnsureIndexes(context.Context) error
}](t testing.TB, newStore func(*mongo.Database) S, use func(ctx context.Context, s S)) {
	t.Helper()
	db, queries := MongoRecording(t)
	s := newStore(db)
	if err := s.EnsureIndexes(t.Context()); err != nil {
		t.Fatalf("testkit: ensure indexes: %v", err)
	}
	use(t.Context(), s)
	queries.RequireIndexed(t, db)
}

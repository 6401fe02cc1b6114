package testkit

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/standin"
)

// RequireIndexed fails t unless the MongoDB under test answers find(filter) on coll from an
// index, as explain reports it: on MongoDB, a winning plan without a collection scan; on the
// stand-in's PostgreSQL backend, PostgreSQL's plan of the query FerretDB pushed down, with
// an index scan (the test kit's databases there plan as a big one would, preferring any
// usable index to a scan of a small table). FerretDB's SQLite backend reports no plan to
// check: there it only logs. Call it from a store's tests for every query the store makes.
func RequireIndexed(t testing.TB, coll *mongo.Collection, filter bson.D) {
	t.Helper()
	var res bson.M
	err := coll.Database().RunCommand(t.Context(), bson.D{
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
		t.Logf("find %v on %s: not checked on the SQLite backend (run with %s=postgresql)", filter, coll.Name(), EnvMongoBackend)
	}
}

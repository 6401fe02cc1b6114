package testkit_test

import (
	"fmt"
	"os"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/standin"
	"ticketing/common/testkit"
)

// capture is a testing.TB that keeps the failures it is told about.
type capture struct {
	testing.TB
	errs []string
}

func (c *capture) Errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func TestRequireIndexed(t *testing.T) {
	db, queries := testkit.MongoRecording(t)
	coll := db.Collection("things")
	ctx := t.Context()
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "a", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "x", "a": 1, "b": 2}); err != nil {
		t.Fatal(err)
	}
	if err := coll.FindOne(ctx, bson.M{"a": 1}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.M{"_id": "x", "b": 2}, bson.M{"$set": bson.M{"c": 3}}); err != nil {
		t.Fatal(err)
	}
	queries.RequireIndexed(t, db) // {a}, and {_id, b}

	c := &capture{TB: t}
	testkit.RequireIndexed(c, coll, bson.D{{Key: "b", Value: 2}})
	checked := os.Getenv(testkit.EnvMongoURI) != "" || os.Getenv(testkit.EnvMongoBackend) == standin.BackendPostgreSQL
	if checked && len(c.errs) != 1 {
		t.Errorf("a query on an unindexed field: %d failures, want 1", len(c.errs))
	}
}

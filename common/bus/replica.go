package bus

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// VersionField is the field of a replica document that holds the version of the last event
// applied to it.
const VersionField = "version"

// Outcome is what applying a versioned event to a replica did.
type Outcome int

// The outcomes of a replica write.
const (
	// Applied: the event was the next version and is stored.
	Applied Outcome = iota + 1
	// Duplicate: the replica already holds this version or a later one (a redelivery).
	Duplicate
	// NotYet: the replica lacks the document or the version before the event's.
	NotYet
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Duplicate:
		return "duplicate"
	case NotYet:
		return "not yet"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Err is what a listener returns for the outcome: ErrNotYet for NotYet (the event is
// offered again later), else nil (the event is acknowledged).
func (o Outcome) Err() error {
	if o == NotYet {
		return ErrNotYet
	}
	return nil
}

// InsertReplica stores doc, the first version of a replicated document; a document with its
// _id already stored (a redelivered event) is a Duplicate.
func InsertReplica(ctx context.Context, coll *mongo.Collection, doc any) (Outcome, error) {
	_, err := coll.InsertOne(ctx, doc)
	switch {
	case err == nil:
		return Applied, nil
	case mongo.IsDuplicateKeyError(err):
		return Duplicate, nil
	default:
		return 0, fmt.Errorf("insert into %s: %w", coll.Name(), err)
	}
}

// ApplyVersion sets the fields of set, and VersionField to version, on replica document id,
// only when it holds version-1: events apply in order, each once. A replica at version or
// later makes it a Duplicate; a missing document or an earlier version, NotYet.
func ApplyVersion(ctx context.Context, coll *mongo.Collection, id string, version int64, set bson.M) (Outcome, error) {
	return applyWhere(ctx, coll, id, version, version-1, set)
}

// ApplyLatest is ApplyVersion for events that each carry the whole replicated state and are
// not published for every version of their aggregate: the fields of set are stored when the
// replica holds any earlier version, so that a version with no event leaves no gap to wait
// for, and a late event never rolls the replica back (a Duplicate). A missing document is
// NotYet.
func ApplyLatest(ctx context.Context, coll *mongo.Collection, id string, version int64, set bson.M) (Outcome, error) {
	return applyWhere(ctx, coll, id, version, bson.M{"$lt": version}, set)
}

// applyWhere stores set and version on document id where its version matches held.
func applyWhere(ctx context.Context, coll *mongo.Collection, id string, version int64, held any, set bson.M) (Outcome, error) {
	update := bson.M{VersionField: version}
	for k, v := range set {
		update[k] = v
	}
	res, err := coll.UpdateOne(ctx, bson.M{"_id": id, VersionField: held}, bson.M{"$set": update})
	if err != nil {
		return 0, fmt.Errorf("%s %s to version %d: %w", coll.Name(), id, version, err)
	}
	if res.MatchedCount == 1 {
		return Applied, nil
	}
	var stored struct {
		Version int64 `bson:"version"`
	}
	err = coll.FindOne(ctx, bson.M{"_id": id}, options.FindOne().SetProjection(bson.M{VersionField: 1})).Decode(&stored)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return NotYet, nil
	case err != nil:
		return 0, fmt.Errorf("read %s %s: %w", coll.Name(), id, err)
	case stored.Version >= version:
		return Duplicate, nil
	default:
		return NotYet, nil
	}
}

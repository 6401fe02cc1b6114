package standin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// opMsgOf builds an OP_MSG with body and, when seqID is set, a document sequence of docs.
func opMsgOf(t testing.TB, body bson.D, seqID string, docs ...bson.D) []byte {
	t.Helper()
	raw, err := bson.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, headerLen)
	binary.LittleEndian.PutUint32(msg[12:], opMsg)
	msg = append(msg, 0, 0, 0, 0) // flags
	msg = append(msg, 0)
	msg = append(msg, raw...)
	if seqID != "" {
		seq := append([]byte(seqID), 0)
		for _, d := range docs {
			b, err := bson.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			seq = append(seq, b...)
		}
		msg = append(msg, 1)
		msg = binary.LittleEndian.AppendUint32(msg, uint32(4+len(seq)))
		msg = append(msg, seq...)
	}
	binary.LittleEndian.PutUint32(msg[:4], uint32(len(msg)))
	return msg
}

func TestClassify(t *testing.T) {
	db := bson.E{Key: "$db", Value: "app"}
	q := func(filter bson.D) bson.D { return bson.D{{Key: "q", Value: filter}, {Key: "u", Value: bson.D{}}} }
	key := func(v any) string {
		d, _ := bson.Marshal(bson.D{{Key: "_id", Value: v}})
		k, ok := idOf(d)
		if !ok {
			t.Fatalf("no key for %v", v)
		}
		return k
	}
	sorted := func(keys ...string) []string { slices.Sort(keys); return keys }
	for _, c := range []struct {
		name string
		msg  []byte
		want access
	}{
		{"find", opMsgOf(t, bson.D{{Key: "find", Value: "orders"}, {Key: "filter", Value: bson.D{}}, db}, ""), access{}},
		{"update by _id, sequence", opMsgOf(t, bson.D{{Key: "update", Value: "orders"}, db}, "updates",
			q(bson.D{{Key: "_id", Value: "b"}, {Key: "version", Value: 3}}), q(bson.D{{Key: "_id", Value: "a"}})),
			access{write: true, ns: "app.orders", docs: sorted(key("a"), key("b"))}},
		{"update by _id, body", opMsgOf(t, bson.D{{Key: "update", Value: "orders"},
			{Key: "updates", Value: bson.A{q(bson.D{{Key: "_id", Value: "a"}}), q(bson.D{{Key: "_id", Value: "a"}})}}, db}, ""),
			access{write: true, ns: "app.orders", docs: []string{key("a")}}},
		{"update by another field", opMsgOf(t, bson.D{{Key: "update", Value: "payments"}, db}, "updates",
			q(bson.D{{Key: "orderId", Value: "o1"}})),
			access{write: true, ns: "app.payments"}},
		{"update of one by _id, one not", opMsgOf(t, bson.D{{Key: "update", Value: "orders"}, db}, "updates",
			q(bson.D{{Key: "_id", Value: "a"}}), q(bson.D{{Key: "userId", Value: "u"}})),
			access{write: true, ns: "app.orders"}},
		{"update with an operator on _id", opMsgOf(t, bson.D{{Key: "update", Value: "orders"}, db}, "updates",
			q(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"a", "b"}}}}})),
			access{write: true, ns: "app.orders"}},
		{"findAndModify by _id", opMsgOf(t, bson.D{{Key: "findAndModify", Value: "tickets"},
			{Key: "query", Value: bson.D{{Key: "_id", Value: "t1"}, {Key: "$or", Value: bson.A{bson.D{{Key: "holder", Value: ""}}}}}}, db}, ""),
			access{write: true, ns: "app.tickets", docs: []string{key("t1")}}},
		{"findAndModify by another field", opMsgOf(t, bson.D{{Key: "findAndModify", Value: "tickets"},
			{Key: "query", Value: bson.D{{Key: "holder", Value: "o1"}}}, db}, ""),
			access{write: true, ns: "app.tickets"}},
		{"insert", opMsgOf(t, bson.D{{Key: "insert", Value: "orders"}, db}, "documents", bson.D{{Key: "_id", Value: "a"}}),
			access{write: true, ns: "app.orders", docs: []string{}}},
		{"delete by numeric _id", opMsgOf(t, bson.D{{Key: "delete", Value: "orders"}, db}, "deletes",
			bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "limit", Value: 1}},
			bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: 1.0}}}, {Key: "limit", Value: 1}}),
			access{write: true, ns: "app.orders", docs: []string{key(int64(1))}}},
		{"createIndexes", opMsgOf(t, bson.D{{Key: "createIndexes", Value: "orders"}, {Key: "indexes", Value: bson.A{}}, db}, ""),
			access{write: true, ns: "app.orders"}},
		{"unknown command", opMsgOf(t, bson.D{{Key: "frobnicate", Value: "orders"}, db}, ""), access{write: true}},
		{"not OP_MSG", []byte("garbage that is long enough to have a header"), access{write: true}},
	} {
		got := classify(c.msg)
		if got.write != c.want.write || got.ns != c.want.ns || !slices.Equal(got.docs, c.want.docs) || (got.docs == nil) != (c.want.docs == nil) {
			t.Errorf("%s: classify = %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestGateKeepsEachDocumentAtomic races read-modify-write updates ($inc, which FerretDB
// runs as a read and then a write) and conditional updates over a few documents at once,
// on the PostgreSQL backend, where the gate locks documents rather than collections: no
// increment may be lost and each round's conditional update must have one winner per
// document.
func TestGateKeepsEachDocumentAtomic(t *testing.T) {
	ctx := t.Context()
	s := start(t, Options{Backend: BackendPostgreSQL, PostgreSQLURL: freshDatabase(t)})
	coll := connect(t, s.URI()).Database("app").Collection("counters")
	const docs, workers, incs = 5, 40, 25
	for i := range docs {
		if _, err := coll.InsertOne(ctx, bson.M{"_id": fmt.Sprintf("c%d", i), "n": 0, "version": 0}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range incs {
				id := fmt.Sprintf("c%d", (w+i)%docs)
				if _, err := coll.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$inc": bson.M{"n": 1}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var total int
	for i := range docs {
		var d struct{ N int }
		if err := coll.FindOne(ctx, bson.M{"_id": fmt.Sprintf("c%d", i)}).Decode(&d); err != nil {
			t.Fatal(err)
		}
		total += d.N
	}
	if total != workers*incs {
		t.Errorf("%d increments stored, want %d", total, workers*incs)
	}

	for round := range 10 {
		wins := make([]int, docs)
		var mu sync.Mutex
		for w := range workers {
			wg.Go(func() {
				id := w % docs
				var d bson.M
				err := coll.FindOneAndUpdate(ctx, bson.M{"_id": fmt.Sprintf("c%d", id), "version": round},
					bson.M{"$set": bson.M{"version": round + 1, "by": w}},
					options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
				switch {
				case err == nil:
					mu.Lock()
					wins[id]++
					mu.Unlock()
				case !errors.Is(err, mongo.ErrNoDocuments):
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for id, n := range wins {
			if n != 1 {
				t.Errorf("round %d, document c%d: %d conditional updates won, want 1", round, id, n)
			}
		}
	}
}

// FuzzClassify: whatever a client sends, classifying it never panics, and a message that is
// not a recognised read is treated as a write.
func FuzzClassify(f *testing.F) {
	db := bson.E{Key: "$db", Value: "app"}
	f.Add(opMsgOf(f, bson.D{{Key: "find", Value: "orders"}, db}, ""))
	f.Add(opMsgOf(f, bson.D{{Key: "update", Value: "orders"}, db}, "updates", bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: "a"}}}}))
	f.Add(opMsgOf(f, bson.D{{Key: "findAndModify", Value: "t"}, {Key: "query", Value: bson.D{{Key: "_id", Value: 1}}}, db}, ""))
	f.Add(opMsgOf(f, bson.D{{Key: "insert", Value: "orders"}, db}, "documents", bson.D{{Key: "_id", Value: "a"}}))
	f.Fuzz(func(t *testing.T, msg []byte) {
		a := classify(msg)
		if !a.write && (a.ns != "" || a.docs != nil) {
			t.Errorf("a read with locks: %+v", a)
		}
	})
}

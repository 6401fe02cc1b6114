package testkit_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/testkit"
)

// BenchmarkConditionalUpdate measures successful conditional updates,
// findOneAndUpdate({_id, version}, {$inc: {version: 1}}), from 50 concurrent
// writers on documents of their own, through whichever MongoDB is in use.
func BenchmarkConditionalUpdate(b *testing.B) {
	ctx := b.Context()
	coll := testkit.Mongo(b).Collection("tickets")
	var next atomic.Int32
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((50 + procs - 1) / procs) // RunParallel starts parallelism*GOMAXPROCS goroutines
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprint(next.Add(1))
		if _, err := coll.InsertOne(ctx, bson.M{"_id": id, "version": 0}); err != nil {
			b.Error(err)
			return
		}
		for v := 0; pb.Next(); v++ {
			err := coll.FindOneAndUpdate(ctx, bson.M{"_id": id, "version": v}, bson.M{"$inc": bson.M{"version": 1}}).Err()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}

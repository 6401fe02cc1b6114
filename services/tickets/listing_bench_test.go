package tickets_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/testkit"
	"ticketing/services/tickets/internal/api"
	"ticketing/services/tickets/internal/app"
	"ticketing/services/tickets/internal/store"
)

// BenchmarkListing measures GET /api/tickets with 10,000 and 100,000 tickets in the store (one
// in ten held by an order), through whichever MongoDB the test kit uses
// (TESTKIT_MONGO_BACKEND=postgresql for the stand-in on PostgreSQL), and reports the p50 and
// p99 of one call:
//
//   - store-first, store-deep: the store's query for the first page of 50, and for a page
//     half-way down the list (after=): what a cache miss costs, once per page and replica
//     per LISTING_CACHE_TTL;
//
//   - cached: the application's listing answered by the cache (its TTL is a minute here,
//     so that a slow store does not turn every call into a miss);
//
//   - http, http-304: the whole handler in process (routing, cache, JSON), without and with
//     If-None-Match.
//
// The cached and http cases make 1,000 calls per iteration. On the stand-in a store query
// reads every free ticket (FerretDB pushes the filter down, not the sort and limit), so keep
// the iterations few:
//
//	TESTKIT_MONGO_BACKEND=postgresql go test -run '^$' -bench Listing -benchtime 3x .
func BenchmarkListing(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("tickets=%d", n), func(b *testing.B) {
			ctx := b.Context()
			db := testkit.Mongo(b)
			st := store.New(db, nil, nil)
			if err := st.EnsureIndexes(ctx); err != nil {
				b.Fatal(err)
			}
			ids := fill(b, db.Collection(store.Collection), n)
			middle := ids[len(ids)/2]
			// A long TTL, so that cached and http measure the answers from the cache: a miss
			// costs what store-first does, once per page, replica and LISTING_CACHE_TTL.
			a := app.New(st, slog.New(slog.DiscardHandler), time.Minute)
			r := chi.NewRouter()
			api.Mount(r, a, nil)

			// measure runs call per times in each iteration, and reports the latency of one call.
			measure := func(name string, per int, call func() error) {
				b.Run(name, func(b *testing.B) {
					lat := make([]time.Duration, 0, b.N*per)
					for b.Loop() {
						for range per {
							start := time.Now()
							if err := call(); err != nil {
								b.Fatal(err)
							}
							lat = append(lat, time.Since(start))
						}
					}
					slices.Sort(lat)
					b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
					b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
				})
			}
			measure("store-first", 1, func() error { _, err := st.ListFree(ctx, "", "", 50); return err })
			measure("store-deep", 1, func() error { _, err := st.ListFree(ctx, "", middle, 50); return err })
			measure("cached", 1000, func() error { _, err := a.ListFree(ctx, "", "", 50); return err })
			get := func(inm string, want int) func() error {
				return func() error {
					req := httptest.NewRequest(http.MethodGet, "/api/tickets", nil)
					if inm != "" {
						req.Header.Set("If-None-Match", inm)
					}
					rec := httptest.NewRecorder()
					r.ServeHTTP(rec, req)
					if rec.Code != want {
						return fmt.Errorf("GET /api/tickets: %d, want %d", rec.Code, want)
					}
					return nil
				}
			}
			measure("http", 1000, get("", http.StatusOK))
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/tickets", nil))
			measure("http-304", 1000, get(rec.Header().Get("ETag"), http.StatusNotModified))
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// fill inserts n tickets straight into coll, as the store lays them out, in batches; one in
// ten is held by an order. It returns their ids, newest first.
func fill(b *testing.B, coll *mongo.Collection, n int) []string {
	b.Helper()
	began := time.Now()
	ids := make([]string, n)
	const batch = 200
	for from := 0; from < n; from += batch {
		docs := make([]any, 0, batch)
		for i := from; i < min(from+batch, n); i++ {
			ids[i] = bson.NewObjectID().Hex()
			order := ""
			if i%10 == 0 {
				order = fmt.Sprint("order", i)
			}
			docs = append(docs, bson.M{"_id": ids[i], "title": fmt.Sprint("Ticket ", i), "priceCents": int64(1000 + i%5000),
				"userId": "seller", "version": int64(0), "orderId": order, "sold": false, "releasedOrders": bson.A{},
				"createdAt": time.Now().UTC(), "outbox": bson.A{}, "outboxPending": false})
		}
		if _, err := coll.InsertMany(b.Context(), docs); err != nil {
			b.Fatal(err)
		}
	}
	slices.Reverse(ids)
	b.Logf("%d tickets inserted in %s", n, time.Since(began).Round(time.Millisecond))
	return ids
}

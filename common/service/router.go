package service

import (
	"context"
	"log/slog"

	"github.com/go-chi/chi/v5"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/authn"
	"ticketing/common/bus"
	"ticketing/common/idempotency"
	"ticketing/common/mongodb"
	"ticketing/common/ratelimit"
	"ticketing/common/web"
)

// NewRouter is the router of a service's API: web.NewRouter verifying sessions with verifier,
// every write limited per user and per client address (b.Limits, ratelimit.Writes) counted
// in counter, and the health probes. exempt are route patterns whose writes are not limited
// (the payment providers' signed webhooks).
func NewRouter(b Base, log *slog.Logger, verifier *authn.Verifier, counter ratelimit.Counter, probes web.Probes, exempt ...string) chi.Router {
	r := web.NewRouter(log, verifier)
	r.Use(ratelimit.Writes(b.Name, counter, b.Limits, log, exempt...))
	web.Health(r, probes)
	return r
}

// Router is NewRouter for a service on the bus: sessions verified with the revocations
// followed on conn (Verifier), the limits counted in rdb, shared by the replicas, or in
// process while it fails or when rdb is nil. A Redis that is not among the required probes is
// added to the degraded ones.
func (a *App) Router(ctx context.Context, conn *bus.Conn, rdb *redis.Client, probes web.Probes, exempt ...string) (chi.Router, error) {
	verifier, err := a.Verifier(ctx, conn)
	if err != nil {
		return nil, err
	}
	if rdb != nil && probes.Required["redis"] == nil {
		if probes.Degraded == nil {
			probes.Degraded = map[string]web.Check{}
		}
		probes.Degraded["redis"] = func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	}
	return NewRouter(a.Base, a.Log, verifier, ratelimit.New(rdb, a.Log), probes, exempt...), nil
}

// API is the HTTP side of a service on MongoDB and the bus: its Router, ready when db
// answers (without NATS the outbox queues the events, without Redis the limits count in
// process: both only degrade it), with the limits counted in the Redis r (LimiterClient; in
// process when r is not configured), and the store of its Idempotency-Key records.
func (a *App) API(ctx context.Context, conn *bus.Conn, db *mongo.Database, r Redis, exempt ...string) (chi.Router, *idempotency.Store, error) {
	rdb := r.LimiterClient()
	if rdb == nil {
		a.Log.Warn("REDIS_ADDR is not set: the rate limits of writes count in this process only, so each replica allows the full limits")
	} else {
		a.OnClose(func(context.Context) { _ = rdb.Close() })
	}
	router, err := a.Router(ctx, conn, rdb, web.Probes{
		Required: map[string]web.Check{"mongodb": mongodb.Ready(db.Client())},
		Degraded: map[string]web.Check{"nats": conn.Ready},
	}, exempt...)
	if err != nil {
		return nil, nil, err
	}
	idem, err := a.Idempotency(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	return router, idem, nil
}

package service

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/bus"
	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/idempotency"
	"ticketing/common/mongodb"
	"ticketing/common/telemetry"
)

// Main is a service's whole main function: read the config, run until SIGINT or SIGTERM,
// exit 1 on failure, 2 on a bad configuration.
func Main[C any](name string, load func(*config.Env) (C, error), run func(context.Context, C) error) {
	cfg, err := load(config.FromOS())
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: configuration:\n%v\n", name, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// NewApp makes the App of a service from its base settings, and installs its tracing (see
// telemetry.Setup), flushed when the App closes.
func NewApp(b Base) *App {
	a := &App{Base: b, Log: b.Logger()}
	shutdown, err := telemetry.Setup(b.Name, b.OTLPEndpoint, a.Log)
	if err != nil {
		a.Log.Error("tracing is off", "err", err)
		return a
	}
	a.OnClose(func(ctx context.Context) {
		if err := shutdown(ctx); err != nil {
			a.Log.Warn("flush traces", "err", err)
		}
	})
	return a
}

// Mongo connects to the service's database and closes it at the end.
func (a *App) Mongo(ctx context.Context) (*mongo.Database, error) {
	c, err := mongodb.Connect(ctx, a.Base.MongoURI, a.Base.Name, 0)
	if err != nil {
		return nil, err
	}
	a.OnClose(func(ctx context.Context) { _ = c.Disconnect(ctx) })
	return c.Database(a.Base.MongoDatabase), nil
}

// Connect connects to the service's database (Mongo) and to NATS (Bus), both closed at the
// end.
func (a *App) Connect(ctx context.Context) (*mongo.Database, *bus.Conn, error) {
	db, err := a.Mongo(ctx)
	if err != nil {
		return nil, nil, err
	}
	conn, err := a.Bus(ctx)
	if err != nil {
		return nil, nil, err
	}
	return db, conn, nil
}

// Redis connects to r, checks that it answers within 10 seconds, and closes the client at
// the end.
func (a *App) Redis(ctx context.Context, r Redis) (*redis.Client, error) {
	rc := r.Client()
	a.OnClose(func(context.Context) { _ = rc.Close() })
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rc.Ping(pctx).Err(); err != nil {
		return nil, fmt.Errorf("connect to Redis at %s: %w", r, err)
	}
	return rc, nil
}

// Idempotency is the store of the Idempotency-Key records in db, its index ensured and its
// purge running every idempotency.PurgeInterval.
func (a *App) Idempotency(ctx context.Context, db *mongo.Database) (*idempotency.Store, error) {
	st := idempotency.New(db, idempotency.Options{Logger: a.Log})
	if err := st.EnsureIndexes(ctx); err != nil {
		return nil, err
	}
	a.Every("idempotency purge", idempotency.PurgeInterval, st.Purge)
	return st, nil
}

// Bus connects to NATS and closes the connection at the end.
func (a *App) Bus(ctx context.Context) (*bus.Conn, error) {
	c, err := a.Base.ConnectBus(ctx, a.Log)
	if err != nil {
		return nil, err
	}
	a.OnClose(func(context.Context) { c.Close() })
	return c, nil
}

// Relay runs the outbox relay of coll in the background; opts, when given, tune it.
func (a *App) Relay(conn *bus.Conn, coll *mongo.Collection, opts ...bus.RelayOptions) *bus.Relay {
	o := bus.RelayOptions{}
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Logger == nil {
		o.Logger = a.Log
	}
	r := bus.NewRelay(conn, coll, o)
	a.Go("outbox relay "+coll.Name(), r.Run)
	return r
}

// Listen starts a listener for E with the service's durable consumer and stops it on
// shutdown, before the relay's last flush. opts, when given, tune it.
func Listen[E events.Event](ctx context.Context, a *App, conn *bus.Conn, h bus.Handler[E], opts ...bus.ListenOptions) error {
	o := bus.ListenOptions{}
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Logger == nil {
		o.Logger = a.Log
	}
	if o.RetryFor == 0 {
		o.RetryFor = a.Base.RetryBudget
	}
	l, err := bus.Listen(ctx, conn, a.Base.Name, h, o)
	if err != nil {
		return err
	}
	a.OnStop(l.Stop)
	return nil
}

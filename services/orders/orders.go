// Package orders is the orders service: it keeps a replica of tickets, places orders that
// hold a ticket for a limited time, and cancels, expires or completes them, publishing
// order.created, order.cancelled and order.completed through the outbox.
package orders

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"ticketing/common/authn"
	"ticketing/common/config"
	"ticketing/common/mongodb"
	"ticketing/common/service"
	"ticketing/common/web"
	"ticketing/services/orders/internal/api"
	"ticketing/services/orders/internal/booking"
	"ticketing/services/orders/internal/listener"
	"ticketing/services/orders/internal/store"
)

// Name is the service's name: its database, durable consumers and logs carry it.
const Name = "orders"

// Config is the service's configuration.
type Config struct {
	service.Base
	ExpirationWindow time.Duration // EXPIRATION_WINDOW, 15m: how long an order holds its ticket unpaid
	HoldGrace        time.Duration // HOLD_GRACE, 1m: a hold outlives its order's expiresAt by this much
	SweepInterval    time.Duration // SWEEP_INTERVAL, 30s: how often the sweeper looks for missed expiries
	SweepGrace       time.Duration // SWEEP_GRACE, 30s: how long past expiresAt before the sweeper acts
}

// LoadConfig reads the configuration from env.
func LoadConfig(env *config.Env) (Config, error) {
	cfg := Config{
		Base:             service.LoadBase(env, Name, true),
		ExpirationWindow: env.Duration("EXPIRATION_WINDOW", 15*time.Minute),
		HoldGrace:        env.Duration("HOLD_GRACE", time.Minute),
		SweepInterval:    env.Duration("SWEEP_INTERVAL", 30*time.Second),
		SweepGrace:       env.Duration("SWEEP_GRACE", 30*time.Second),
	}
	return cfg, env.Err()
}

// Run serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	app := service.NewApp(cfg.Base)
	app.Log.Info("configuration",
		"http", cfg.HTTPAddr, "metrics", cfg.MetricsAddr, "nats", cfg.NATSURL, "bus_prefix", cfg.Topology.Prefix,
		"mongodb_database", cfg.MongoDatabase, "mongodb_uri", config.Mask(cfg.MongoURI),
		"expiration_window", cfg.ExpirationWindow, "hold_grace", cfg.HoldGrace,
		"sweep_interval", cfg.SweepInterval, "sweep_grace", cfg.SweepGrace)
	if cfg.SweepGrace >= cfg.HoldGrace {
		app.Log.Warn("SWEEP_GRACE is not below HOLD_GRACE: an order whose expiry was lost may see its hold lapse, "+
			"and another order take the ticket, before the sweeper cancels it", "sweep_grace", cfg.SweepGrace, "hold_grace", cfg.HoldGrace)
	}

	router, err := setup(ctx, app, cfg)
	if err != nil {
		app.Close() // what setup opened
		return err
	}
	return app.Serve(ctx, router)
}

// setup connects, starts the relay, listeners and sweeper, and builds the router.
func setup(ctx context.Context, app *service.App, cfg Config) (http.Handler, error) {
	db, err := app.Mongo(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := app.Bus(ctx)
	if err != nil {
		return nil, err
	}
	st := store.New(db)
	if err := st.EnsureIndexes(ctx); err != nil {
		return nil, err
	}
	relay := app.Relay(conn, st.Orders())
	svc := booking.New(st, booking.Options{
		Window:    cfg.ExpirationWindow,
		HoldGrace: cfg.HoldGrace,
		Notify:    relay.Notify,
		Logger:    app.Log,
	})

	h := listener.Handlers{Store: st, Booking: svc, Log: app.Log}
	for _, listen := range []func() error{
		func() error { return service.Listen(ctx, app, conn, h.TicketCreated) },
		func() error { return service.Listen(ctx, app, conn, h.TicketUpdated) },
		func() error { return service.Listen(ctx, app, conn, h.ExpirationCompleted) },
		func() error { return service.Listen(ctx, app, conn, h.PaymentCreated) },
	} {
		if err := listen(); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	app.Go("sweeper", svc.Sweeper(cfg.SweepInterval, cfg.SweepGrace))

	router := web.NewRouter(app.Log, authn.NewVerifier(cfg.JWTPublicKey))
	web.Health(router, map[string]web.Check{
		"mongodb": mongodb.Ready(db.Client()),
		"nats":    conn.Ready,
	})
	api.Routes(router, svc)
	return router, nil
}

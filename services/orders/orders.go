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
	"ticketing/services/orders/internal/app"
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

// LogAttrs are the service's own settings for the configuration log (service.App.LogConfig).
func (c Config) LogAttrs() []any {
	return []any{"expiration_window", c.ExpirationWindow, "hold_grace", c.HoldGrace,
		"sweep_interval", c.SweepInterval, "sweep_grace", c.SweepGrace}
}

// Run serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	svc := service.NewApp(cfg.Base)
	svc.LogConfig(cfg.LogAttrs()...)
	if cfg.SweepGrace >= cfg.HoldGrace {
		svc.Log.Warn("SWEEP_GRACE is not below HOLD_GRACE: an order whose expiry was lost may see its hold lapse, "+
			"and another order take the ticket, before the sweeper cancels it", "sweep_grace", cfg.SweepGrace, "hold_grace", cfg.HoldGrace)
	}
	return svc.Run(ctx, func(ctx context.Context) (http.Handler, error) { return setup(ctx, svc, cfg) })
}

// setup connects, starts the relay, listeners and sweeper, and builds the router.
func setup(ctx context.Context, svc *service.App, cfg Config) (http.Handler, error) {
	db, err := svc.Mongo(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := svc.Bus(ctx)
	if err != nil {
		return nil, err
	}
	relay := svc.Relay(conn, db.Collection(store.OrdersCollection))
	st := store.New(db, relay)
	if err := st.EnsureIndexes(ctx); err != nil {
		return nil, err
	}
	a := app.New(st, app.Options{Window: cfg.ExpirationWindow, HoldGrace: cfg.HoldGrace, Logger: svc.Log})

	h := listener.Handlers{App: a, Log: svc.Log}
	for _, listen := range []func() error{
		func() error { return service.Listen(ctx, svc, conn, h.TicketCreated) },
		func() error { return service.Listen(ctx, svc, conn, h.TicketUpdated) },
		func() error { return service.Listen(ctx, svc, conn, h.ExpirationCompleted) },
		func() error { return service.Listen(ctx, svc, conn, h.PaymentCreated) },
	} {
		if err := listen(); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	svc.Every("order sweeper", cfg.SweepInterval, func(ctx context.Context) error { return a.SweepAll(ctx, cfg.SweepGrace) })

	router := web.NewRouter(svc.Log, authn.NewVerifier(cfg.JWTPublicKey))
	// Only the database makes the pod unable to serve: without NATS the outbox queues the events.
	web.Health(router, web.Probes{
		Required: map[string]web.Check{"mongodb": mongodb.Ready(db.Client())},
		Degraded: map[string]web.Check{"nats": conn.Ready},
	})
	api.Routes(router, a)
	return router, nil
}

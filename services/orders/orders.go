// Package orders is the orders service: it keeps a replica of tickets, places orders that
// hold a ticket for a limited time, and cancels, expires or completes them, publishing
// order.created, order.updated, order.cancelled and order.completed through the outbox.
package orders

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"time"

	"ticketing/common/authn"
	"ticketing/common/config"
	"ticketing/common/service"
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
	// Redis (service.LoadRedis: REDIS_ADDR or REDIS_SENTINEL_ADDRS...) counts the rate limits
	// of writes (RATE_LIMIT_USER, RATE_LIMIT_CLIENT, RATE_LIMIT_WINDOW, TRUSTED_PROXIES: see
	// service.Base.Limits) for every replica; unset, each replica counts in process.
	Redis            service.Redis
	ExpirationWindow time.Duration // EXPIRATION_WINDOW, 15m: how long an order holds its ticket unpaid
	HoldGrace        time.Duration // HOLD_GRACE, 1m: a hold outlives its order's expiresAt by this much
	SweepInterval    time.Duration // SWEEP_INTERVAL, 30s: how often the sweeper looks for missed expiries
	SweepGrace       time.Duration // SWEEP_GRACE, 30s: how long past expiresAt before the sweeper acts
	PaymentGrace     time.Duration // PAYMENT_GRACE, 5m: a started payment is waited for until max(expiresAt, start + this)
	// QueuePublicKey (QUEUE_PUBLIC_KEY, PEM) verifies the waiting room's passes; without it no
	// ticket of an event can be ordered (403).
	QueuePublicKey ed25519.PublicKey
}

// LoadConfig reads the configuration from env.
func LoadConfig(env *config.Env) (Config, error) {
	cfg := Config{
		Base:             service.LoadBase(env, Name, true),
		Redis:            service.LoadRedis(env, false),
		ExpirationWindow: env.Duration("EXPIRATION_WINDOW", 15*time.Minute),
		HoldGrace:        env.Duration("HOLD_GRACE", time.Minute),
		SweepInterval:    env.Duration("SWEEP_INTERVAL", 30*time.Second),
		SweepGrace:       env.Duration("SWEEP_GRACE", 30*time.Second),
		PaymentGrace:     env.Duration("PAYMENT_GRACE", 5*time.Minute),
	}
	if p := env.String("QUEUE_PUBLIC_KEY", ""); p != "" {
		k, err := authn.ParsePublicKey(p)
		if err != nil {
			env.Fail("QUEUE_PUBLIC_KEY", "%v", err)
		}
		cfg.QueuePublicKey = k
	}
	return cfg, env.Err()
}

// LogAttrs are the service's own settings for the configuration log (service.App.LogConfig).
func (c Config) LogAttrs() []any {
	return append(c.Redis.LogAttrs(), "expiration_window", c.ExpirationWindow, "hold_grace", c.HoldGrace,
		"sweep_interval", c.SweepInterval, "sweep_grace", c.SweepGrace, "payment_grace", c.PaymentGrace,
		"queue_key", len(c.QueuePublicKey) > 0)
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
	db, conn, err := svc.Connect(ctx)
	if err != nil {
		return nil, err
	}
	relay := svc.Relay(conn, db.Collection(store.OrdersCollection))
	st := store.New(db, relay)
	if err := st.EnsureIndexes(ctx); err != nil {
		return nil, err
	}
	opts := app.Options{Window: cfg.ExpirationWindow, HoldGrace: cfg.HoldGrace, PaymentGrace: cfg.PaymentGrace, Logger: svc.Log}
	if len(cfg.QueuePublicKey) > 0 {
		opts.Passes = authn.NewPassVerifier(cfg.QueuePublicKey)
	} else {
		svc.Log.Warn("QUEUE_PUBLIC_KEY is not set: every order for a ticket of an event is refused (403)")
	}
	a := app.New(st, opts)

	h := listener.Handlers{App: a, Log: svc.Log}
	for _, listen := range []func() error{
		func() error { return service.Listen(ctx, svc, conn, h.EventCreated) },
		func() error { return service.Listen(ctx, svc, conn, h.TicketCreated) },
		func() error { return service.Listen(ctx, svc, conn, h.TicketUpdated) },
		func() error { return service.Listen(ctx, svc, conn, h.TicketRefused) },
		func() error { return service.Listen(ctx, svc, conn, h.ExpirationCompleted) },
		func() error { return service.Listen(ctx, svc, conn, h.PaymentCreated) },
		func() error { return service.Listen(ctx, svc, conn, h.PaymentStarted) },
		func() error { return service.Listen(ctx, svc, conn, h.PaymentFailed) },
		func() error { return service.Listen(ctx, svc, conn, h.PaymentRefunded) },
	} {
		if err := listen(); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	svc.Every("order sweeper", cfg.SweepInterval, func(ctx context.Context) error { return a.SweepAll(ctx, cfg.SweepGrace) })

	router, idem, err := svc.API(ctx, conn, db, cfg.Redis)
	if err != nil {
		return nil, err
	}
	api.Routes(router, a, idem)
	return router, nil
}

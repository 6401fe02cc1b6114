// Package queue is the waiting-room service: buyers join an event's line before or after its
// sale opens, early joiners are put in a random order when it opens and later ones go to the
// back, buyers are admitted at the event's rate while tickets are free, and each admitted
// buyer gets a short-lived pass, signed with Ed25519, that the orders service verifies with
// the public key. It learns of events and of the orders of their tickets from the bus only,
// and keeps every line in Redis.
package queue

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"time"

	"ticketing/common/authn"
	"ticketing/common/config"
	"ticketing/common/service"
	"ticketing/common/web"
	"ticketing/services/queue/internal/api"
	"ticketing/services/queue/internal/app"
	"ticketing/services/queue/internal/listener"
	"ticketing/services/queue/internal/store"
)

// Name is the service's name: its durable consumers and logs carry it.
const Name = "queue"

// Config is the service's configuration.
type Config struct {
	service.Base
	// Redis (service.LoadRedis, required) keeps the lines, and counts the rate limits of
	// writes (RATE_LIMIT_USER, RATE_LIMIT_CLIENT, RATE_LIMIT_WINDOW, TRUSTED_PROXIES: see
	// service.Base.Limits) for every replica.
	Redis service.Redis

	// PrivateKey (QUEUE_PRIVATE_KEY, PEM, required) signs the passes; the orders service
	// holds the public half (QUEUE_PUBLIC_KEY).
	PrivateKey   ed25519.PrivateKey `json:"-"`
	PassTTL      time.Duration      // QUEUE_PASS_TTL, 10m: how long a pass lets its buyer order
	Tick         time.Duration      // QUEUE_TICK, 250ms: how often admissions run
	KeyPrefix    string             // QUEUE_KEY_PREFIX, "": before every Redis key
	CookieSecure bool               // COOKIE_SECURE, false: the queue_pass cookie is Secure
}

// LoadConfig reads the configuration from env.
func LoadConfig(env *config.Env) (Config, error) {
	cfg := Config{
		Base:         service.LoadBase(env, Name, false),
		Redis:        service.LoadRedis(env, true),
		PassTTL:      env.Duration("QUEUE_PASS_TTL", 10*time.Minute),
		Tick:         env.Duration("QUEUE_TICK", 250*time.Millisecond),
		KeyPrefix:    env.String("QUEUE_KEY_PREFIX", ""),
		CookieSecure: env.Bool("COOKIE_SECURE", false),
	}
	if p := env.Required("QUEUE_PRIVATE_KEY"); p != "" {
		k, err := authn.ParsePrivateKey(p)
		if err != nil {
			env.Fail("QUEUE_PRIVATE_KEY", "%v", err)
		}
		cfg.PrivateKey = k
	}
	if cfg.PassTTL < time.Minute {
		env.Fail("QUEUE_PASS_TTL", "%s is under a minute", cfg.PassTTL)
	}
	if cfg.Tick <= 0 || cfg.Tick > 10*time.Second {
		env.Fail("QUEUE_TICK", "%s is not above 0 and at most 10s", cfg.Tick)
	}
	return cfg, env.Err()
}

// LogAttrs are the service's own settings for the configuration log, secrets masked.
func (c Config) LogAttrs() []any {
	return append(c.Redis.LogAttrs(), "pass_ttl", c.PassTTL, "tick", c.Tick, "key_prefix", c.KeyPrefix,
		"cookie_secure", c.CookieSecure, "private_key", len(c.PrivateKey) > 0)
}

// Run serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	svc := service.NewApp(cfg.Base)
	svc.LogConfig(cfg.LogAttrs()...)
	return svc.Run(ctx, func(ctx context.Context) (http.Handler, error) { return setup(ctx, svc, cfg) })
}

func setup(ctx context.Context, svc *service.App, cfg Config) (http.Handler, error) {
	rc, err := svc.Redis(ctx, cfg.Redis)
	if err != nil {
		return nil, err
	}
	conn, err := svc.Bus(ctx)
	if err != nil {
		return nil, err
	}
	a := app.New(store.New(rc, cfg.KeyPrefix), authn.NewPassSigner(cfg.PrivateKey),
		app.Options{PassTTL: cfg.PassTTL, Tick: cfg.Tick, Logger: svc.Log})

	h := listener.Handlers{App: a}
	for _, listen := range []func() error{
		func() error { return service.Listen(ctx, svc, conn, h.EventCreated) },
		func() error { return service.Listen(ctx, svc, conn, h.OrderCreated) },
		func() error { return service.Listen(ctx, svc, conn, h.OrderCancelled) },
		func() error { return service.Listen(ctx, svc, conn, h.OrderCompleted) },
	} {
		if err := listen(); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	svc.Every("admissions", cfg.Tick, a.AdmitAll)

	// Only Redis (the lines, and the rate limits) makes the pod unable to serve: without NATS
	// it still answers.
	router, err := svc.Router(ctx, conn, rc, web.Probes{
		Required: map[string]web.Check{"redis": func(ctx context.Context) error { return rc.Ping(ctx).Err() }},
		Degraded: map[string]web.Check{"nats": conn.Ready},
	})
	if err != nil {
		return nil, fmt.Errorf("follow revocations: %w", err)
	}
	api.Mount(router, a, cfg.CookieSecure)
	return router, nil
}

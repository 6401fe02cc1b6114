// Package expiration is the expiration service: it schedules an expiry job in Redis (asynq)
// for every order created, drops it when the order is cancelled or paid, and publishes
// expiration.completed when the order's reservation window ends.
package expiration

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"ticketing/common/bus"
	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/service"
	"ticketing/common/web"

	"ticketing/services/expiration/internal/app"
	"ticketing/services/expiration/internal/expiry"
	"ticketing/services/expiration/internal/listener"
	"ticketing/services/expiration/internal/store"
)

// Config is the expiration service's configuration.
type Config struct {
	service.Base

	// Redis of the asynq queue, required (service.LoadRedis: REDIS_ADDR, or REDIS_SENTINEL_ADDRS
	// and REDIS_MASTER_NAME for a primary that fails over).
	Redis service.Redis

	Concurrency int           // ASYNQ_CONCURRENCY, 20: jobs run at once per replica
	Queue       string        // ASYNQ_QUEUE, "expiration"
	Retention   time.Duration // TASK_RETENTION, the JetStream duplicate window (10m); not shorter

	// Not read from the environment (tests and the dev stack may set them).
	CheckInterval  time.Duration // store.DefaultCheckInterval when zero
	StatsInterval  time.Duration // store.DefaultStatsInterval when zero
	PublishTimeout time.Duration // longest wait for JetStream to acknowledge one expiry; 5s when zero
}

var queueName = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)

// LoadConfig reads the configuration from env, naming every problem at once.
func LoadConfig(env *config.Env) (Config, error) {
	cfg := Config{
		Base:        service.LoadBase(env, "expiration", false),
		Redis:       service.LoadRedis(env, true),
		Concurrency: env.Int("ASYNQ_CONCURRENCY", 20, 1, 100_000),
		Queue:       env.String("ASYNQ_QUEUE", "expiration"),
		Retention:   env.Duration("TASK_RETENTION", events.DefaultDuplicateWindow),
	}
	if !queueName.MatchString(cfg.Queue) {
		env.Fail("ASYNQ_QUEUE", "%q is not 1 to 100 letters, digits, '_', '.', ':' or '-'", cfg.Queue)
	}
	if window := duplicateWindow(cfg.Topology); cfg.Retention < window {
		env.Fail("TASK_RETENTION", "%s is shorter than the JetStream duplicate window %s: a late duplicate "+
			"order.created could schedule a finished expiry again", cfg.Retention, window)
	}
	return cfg, env.Err()
}

func duplicateWindow(t events.Topology) time.Duration {
	if t.Duplicates > 0 {
		return t.Duplicates
	}
	return events.DefaultDuplicateWindow
}

// LogAttrs are the service's own settings for the configuration log (service.App.LogConfig),
// secrets masked.
func (c Config) LogAttrs() []any {
	return append(c.Redis.LogAttrs(), "concurrency", c.Concurrency, "queue", c.Queue, "retention", c.Retention)
}

// Run runs the service until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	svc := service.NewApp(cfg.Base)
	svc.LogConfig(cfg.LogAttrs()...)
	return svc.Run(ctx, func(ctx context.Context) (http.Handler, error) { return setup(ctx, svc, cfg) })
}

// setup connects Redis and NATS, starts the job server, the listeners and the task counts,
// and builds the router (health only).
func setup(ctx context.Context, svc *service.App, cfg Config) (http.Handler, error) {
	log := svc.Log
	rc := cfg.Redis.Client() // asynq follows a Sentinel failover through it
	svc.OnClose(func(context.Context) { _ = rc.Close() })
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := rc.Ping(pctx).Err()
	cancel()
	if err != nil {
		return nil, fmt.Errorf("connect to Redis at %s: %w", cfg.Redis, err)
	}

	conn, err := svc.Bus(ctx)
	if err != nil {
		return nil, err
	}

	jobs := store.NewScheduler(rc, store.Options{Queue: cfg.Queue, Retention: cfg.Retention})
	publishTimeout := cmp.Or(cfg.PublishTimeout, 5*time.Second)
	a := app.New(jobs, func(ctx context.Context, job expiry.Job) error {
		// Bounded: while NATS is away nats.go buffers the message and would wait for the
		// acknowledgement as long as the task's timeout; failing sooner retries with backoff.
		ctx, cancel := context.WithTimeout(ctx, publishTimeout)
		defer cancel()
		return bus.Publish(ctx, conn, job.EventID(), events.ExpirationCompleted{OrderID: job.OrderID})
	}, log)

	// The job server starts before the listeners: a job scheduled in the past runs at once.
	srv := store.NewServer(rc, store.ServerOptions{
		Queue:           cfg.Queue,
		Concurrency:     cfg.Concurrency,
		ShutdownTimeout: cfg.ShutdownTimeout / 2,
		CheckInterval:   cfg.CheckInterval,
		Logger:          log,
	})
	if err := srv.Start(store.Handler(a)); err != nil {
		return nil, fmt.Errorf("start the asynq server: %w", err)
	}

	h := listener.New(a)
	for _, listen := range []func() error{
		func() error { return service.Listen(ctx, svc, conn, h.OrderCreated) },
		func() error { return service.Listen(ctx, svc, conn, h.OrderCancelled) },
		func() error { return service.Listen(ctx, svc, conn, h.OrderCompleted) },
	} {
		if err := listen(); err != nil {
			srv.Shutdown()
			return nil, err
		}
	}
	// Registered after the listeners, so it runs after they stopped; running jobs finish (or
	// go back to Redis after the timeout) before the NATS connection closes.
	svc.OnStop(func(context.Context) { srv.Shutdown() })

	monitor := store.NewMonitor(jobs)
	if err := monitor.Update(ctx); err != nil {
		log.Warn("expiry task counts", "err", err)
	}
	svc.Every("expiry task counts", cmp.Or(cfg.StatsInterval, store.DefaultStatsInterval), monitor.Update)

	router := web.NewRouter(log, nil)
	// Redis holds the expiry jobs: without it this service does nothing. Without NATS it still
	// fires the jobs it has (their publishes retry), and learns of new orders once it is back.
	web.Health(router, web.Probes{
		Required: map[string]web.Check{"redis": func(ctx context.Context) error { return rc.Ping(ctx).Err() }},
		Degraded: map[string]web.Check{"nats": conn.Ready},
	}, func() map[string]any {
		if c, ok := monitor.Last(); ok {
			return map[string]any{"tasks": c}
		}
		return nil
	})
	return router, nil
}

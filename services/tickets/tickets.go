// Package tickets is the tickets service: the catalogue of tickets for sale, edited by their
// owners over REST and reserved, released and sold by the orders service's events. Every
// change is one conditional write that also queues its ticket.created or ticket.updated
// event in the document's outbox; the outbox relay publishes it to JetStream.
package tickets

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"ticketing/common/authn"
	"ticketing/common/bus"
	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/mongodb"
	"ticketing/common/service"
	"ticketing/common/web"
	"ticketing/services/tickets/internal/api"
	"ticketing/services/tickets/internal/listener"
	"ticketing/services/tickets/internal/store"
)

// Name is the service's name: its client name, default database and durable consumer prefix.
const Name = "tickets"

// Config is the tickets service's configuration.
type Config struct {
	service.Base

	// OutboxPollInterval (OUTBOX_POLL_INTERVAL, 5s) is how often the relay looks for events
	// left in any ticket's outbox (by a replica that crashed, or a publish that failed).
	OutboxPollInterval time.Duration

	// RelayAfterPublish is a test hook handed to the outbox relay
	// (bus.RelayOptions.AfterPublish): an error stops the relay between the publish and the
	// removal of the events, as a crash would.
	RelayAfterPublish func(docID string) error `json:"-"`
}

// LoadConfig reads the configuration from env.
func LoadConfig(env *config.Env) (Config, error) {
	cfg := Config{
		Base:               service.LoadBase(env, Name, true),
		OutboxPollInterval: env.Duration("OUTBOX_POLL_INTERVAL", 5*time.Second),
	}
	return cfg, env.Err()
}

// Run serves until ctx ends, then shuts down cleanly.
func Run(ctx context.Context, cfg Config) error {
	app := service.NewApp(cfg.Base)
	app.Log.Info("starting", "http", cfg.HTTPAddr, "metrics", cfg.MetricsAddr, "database", cfg.MongoDatabase,
		"nats", redacted(cfg.NATSURL), "bus_prefix", cfg.Topology.Prefix, "outbox_poll", cfg.OutboxPollInterval)

	db, err := app.Mongo(ctx)
	if err != nil {
		return err
	}
	conn, err := app.Bus(ctx)
	if err != nil {
		return err
	}
	st := store.New(db)
	if err := st.EnsureIndexes(ctx); err != nil {
		return err
	}

	relay := bus.NewRelay(conn, st.Collection(), bus.RelayOptions{
		PollInterval: cfg.OutboxPollInterval,
		Logger:       app.Log,
		AfterPublish: cfg.RelayAfterPublish,
	})
	app.Go("outbox relay "+store.Collection, relay.Run)

	l := listener.New(st, relay, app.Log)
	if err := service.Listen[events.OrderCreated](ctx, app, conn, l.OrderCreated); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if err := service.Listen[events.OrderCancelled](ctx, app, conn, l.OrderCancelled); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if err := service.Listen[events.OrderCompleted](ctx, app, conn, l.OrderCompleted); err != nil {
		return fmt.Errorf("listen: %w", err)
	}

	router := web.NewRouter(app.Log, authn.NewVerifier(cfg.JWTPublicKey))
	web.Health(router, map[string]web.Check{
		"mongodb": mongodb.Ready(db.Client()),
		"nats":    conn.Ready,
	})
	api.Mount(router, st, relay)
	return app.Serve(ctx, router)
}

// redacted is a URL without its password, for logs.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparsable]"
	}
	return u.Redacted()
}

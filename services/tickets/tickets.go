// Package tickets is the tickets service: the catalogue of tickets for sale, edited by their
// owners over REST and reserved, released and sold by the orders service's events. Every
// change is one conditional write that also queues its ticket.created or ticket.updated
// event in the document's outbox; the outbox relay publishes it to JetStream.
package tickets

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"ticketing/common/bus"
	"ticketing/common/config"
	"ticketing/common/mongodb"
	"ticketing/common/service"
	"ticketing/services/tickets/internal/api"
	"ticketing/services/tickets/internal/app"
	"ticketing/services/tickets/internal/listener"
	"ticketing/services/tickets/internal/store"
)

// Name is the service's name: its client name, default database and durable consumer prefix.
const Name = "tickets"

// MaxListingCacheTTL bounds LISTING_CACHE_TTL: a change shows in every replica's listing
// within a second.
const MaxListingCacheTTL = time.Second

// Config is the tickets service's configuration.
type Config struct {
	service.Base
	// Redis (service.LoadRedis: REDIS_ADDR or REDIS_SENTINEL_ADDRS...) counts the rate limits
	// of writes (RATE_LIMIT_USER, RATE_LIMIT_CLIENT, RATE_LIMIT_WINDOW, TRUSTED_PROXIES: see
	// service.Base.Limits) for every replica; unset, each replica counts in process.
	Redis service.Redis

	// OutboxPollInterval (OUTBOX_POLL_INTERVAL, 5s) is how often the relay looks for events
	// left in any ticket's outbox (by a replica that crashed, or a publish that failed).
	OutboxPollInterval time.Duration

	// ListingCacheTTL (LISTING_CACHE_TTL, 500ms, at most 1s) is how long a cached page of
	// the listing or a cached ticket answers GET /api/tickets and GET /api/tickets/{id}:
	// the longest a change made through another replica takes to show there.
	ListingCacheTTL time.Duration

	// ListingReads (MONGODB_LISTING_READ_PREFERENCE, MONGODB_LISTING_MAX_STALENESS) is where
	// the listing's store queries go; every other read goes to the primary.
	ListingReads mongodb.ListingReads

	// RelayAfterPublish is a test hook handed to the outbox relay
	// (bus.RelayOptions.AfterPublish): an error stops the relay between the publish and the
	// removal of the events, as a crash would.
	RelayAfterPublish func(docID string) error `json:"-"`
}

// LoadConfig reads the configuration from env.
func LoadConfig(env *config.Env) (Config, error) {
	cfg := Config{
		Base:               service.LoadBase(env, Name, true),
		Redis:              service.LoadRedis(env, false),
		OutboxPollInterval: env.Duration("OUTBOX_POLL_INTERVAL", 5*time.Second),
		ListingCacheTTL:    env.Duration("LISTING_CACHE_TTL", 500*time.Millisecond),
		ListingReads:       mongodb.LoadListingReads(env),
	}
	if cfg.ListingCacheTTL > MaxListingCacheTTL {
		env.Fail("LISTING_CACHE_TTL", "%s is above %s: a change must show in the listing within it", cfg.ListingCacheTTL, MaxListingCacheTTL)
	}
	return cfg, env.Err()
}

// LogAttrs are the service's own settings for the configuration log (service.App.LogConfig).
func (c Config) LogAttrs() []any {
	return append(c.Redis.LogAttrs(), "outbox_poll", c.OutboxPollInterval, "listing_cache_ttl", c.ListingCacheTTL, "listing_reads", c.ListingReads.String())
}

// Run serves until ctx ends, then shuts down cleanly.
func Run(ctx context.Context, cfg Config) error {
	svc := service.NewApp(cfg.Base)
	svc.LogConfig(cfg.LogAttrs()...)
	return svc.Run(ctx, func(ctx context.Context) (http.Handler, error) {
		db, conn, err := svc.Connect(ctx)
		if err != nil {
			return nil, err
		}
		relay := svc.Relay(conn, db.Collection(store.Collection), bus.RelayOptions{
			PollInterval: cfg.OutboxPollInterval,
			AfterPublish: cfg.RelayAfterPublish,
		})
		eventsRelay := svc.Relay(conn, db.Collection(store.EventsCollection), bus.RelayOptions{PollInterval: cfg.OutboxPollInterval})
		st := store.New(db, relay, eventsRelay)
		rp, err := cfg.ListingReads.ReadPref()
		if err != nil {
			return nil, err
		}
		st.SetListingReads(rp)
		if err := st.EnsureIndexes(ctx); err != nil {
			return nil, err
		}
		a := app.New(st, svc.Log, cfg.ListingCacheTTL)

		l := listener.New(a)
		if err := service.Listen(ctx, svc, conn, l.OrderCreated); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		if err := service.Listen(ctx, svc, conn, l.OrderCancelled); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		if err := service.Listen(ctx, svc, conn, l.OrderCompleted); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}

		router, idem, err := svc.API(ctx, conn, db, cfg.Redis)
		if err != nil {
			return nil, err
		}
		api.Mount(router, a, idem)
		return router, nil
	})
}

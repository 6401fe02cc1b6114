// Package payments is the payments service: it charges orders through Stripe PaymentIntents
// without ever charging twice, completes browser-confirmed payments from Stripe's webhooks,
// keeps a replica of orders, and refunds a payment whose order was cancelled meanwhile.
package payments

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"ticketing/common/config"
	"ticketing/common/service"
	"ticketing/services/payments/internal/api"
	"ticketing/services/payments/internal/app"
	"ticketing/services/payments/internal/listener"
	"ticketing/services/payments/internal/provider"
	"ticketing/services/payments/internal/store"
)

// Name is the service's name: its database, its durable consumers' prefix, its logs.
const Name = "payments"

// Payment providers.
const (
	ProviderStripe   = "stripe"
	ProviderOffline  = "offline"
	ProviderRazorpay = "razorpay"
)

// Config is the payments service's configuration.
type Config struct {
	service.Base
	// Redis (service.LoadRedis: REDIS_ADDR or REDIS_SENTINEL_ADDRS...) counts the rate limits
	// of writes (RATE_LIMIT_USER, RATE_LIMIT_CLIENT, RATE_LIMIT_WINDOW, TRUSTED_PROXIES: see
	// service.Base.Limits) for every replica; unset, each replica counts in process.
	Redis           service.Redis
	Provider        string // PAYMENT_PROVIDER: stripe (default) or offline
	StripeSecretKey string // STRIPE_SECRET_KEY, required with stripe
	// StripePublishableKey (STRIPE_PUBLISHABLE_KEY, pk_...) is handed to browsers by GET
	// /api/payments/config for Stripe.js; it is public.
	StripePublishableKey string
	WebhookSecret        string // STRIPE_WEBHOOK_SECRET, required
	StripeAPIBase        string // STRIPE_API_BASE: Stripe's API by default; stripe-mock's URL in tests
	Currency             string // CURRENCY, usd
	// Razorpay (PAYMENT_PROVIDER=razorpay): RAZORPAY_KEY_ID (public, for Checkout),
	// RAZORPAY_KEY_SECRET, RAZORPAY_WEBHOOK_SECRET, and RAZORPAY_API_BASE (Razorpay's API by
	// default; a fake's URL in tests).
	RazorpayKeyID         string
	RazorpayKeySecret     string
	RazorpayWebhookSecret string
	RazorpayAPIBase       string
	// RefundSweepInterval (REFUND_SWEEP_INTERVAL, 1m) is how often refunds that failed are
	// retried: succeeded payments of cancelled orders.
	RefundSweepInterval time.Duration
	// ReconcileAfter (PAYMENT_RECONCILE_AFTER, 10m) is how long a payment waits on the
	// processor (processing, or confirmed in the browser) for its webhook before the
	// reconciler asks the processor; ReconcileInterval (PAYMENT_RECONCILE_INTERVAL, 1m) is how
	// often it looks.
	ReconcileAfter    time.Duration
	ReconcileInterval time.Duration

	// PaymentProvider, when set, is used instead of the one Provider names (tests).
	PaymentProvider provider.Provider `json:"-"`
}

var currencyCode = regexp.MustCompile(`^[a-z]{3}$`)

// LoadConfig reads the configuration from env.
func LoadConfig(env *config.Env) (Config, error) {
	c := Config{
		Base:          service.LoadBase(env, Name, true),
		Redis:         service.LoadRedis(env, false),
		Provider:      env.OneOf("PAYMENT_PROVIDER", ProviderStripe, ProviderStripe, ProviderOffline, ProviderRazorpay),
		StripeAPIBase: env.String("STRIPE_API_BASE", ""),

		StripePublishableKey: env.String("STRIPE_PUBLISHABLE_KEY", ""),
		Currency:             strings.ToLower(env.String("CURRENCY", "usd")),

		RefundSweepInterval: env.Duration("REFUND_SWEEP_INTERVAL", time.Minute),
		ReconcileAfter:      env.Duration("PAYMENT_RECONCILE_AFTER", 10*time.Minute),
		ReconcileInterval:   env.Duration("PAYMENT_RECONCILE_INTERVAL", time.Minute),
	}
	if c.Provider == ProviderRazorpay {
		c.WebhookSecret = env.String("STRIPE_WEBHOOK_SECRET", "")
		c.RazorpayKeyID = env.Required("RAZORPAY_KEY_ID")
		c.RazorpayKeySecret = env.Required("RAZORPAY_KEY_SECRET")
		c.RazorpayWebhookSecret = env.Required("RAZORPAY_WEBHOOK_SECRET")
		c.RazorpayAPIBase = env.String("RAZORPAY_API_BASE", "")
		if k := c.RazorpayKeyID; k != "" && !strings.HasPrefix(k, "rzp_") {
			env.Fail("RAZORPAY_KEY_ID", "is not a Razorpay key id (rzp_test_... or rzp_live_...)")
		}
		checkURL(env, "RAZORPAY_API_BASE", c.RazorpayAPIBase)
	} else {
		c.WebhookSecret = env.Required("STRIPE_WEBHOOK_SECRET")
	}
	if c.Provider == ProviderStripe {
		c.StripeSecretKey = env.Required("STRIPE_SECRET_KEY")
		if c.StripeSecretKey != "" && !strings.HasPrefix(c.StripeSecretKey, "sk_") && !strings.HasPrefix(c.StripeSecretKey, "rk_") {
			env.Fail("STRIPE_SECRET_KEY", "is not a Stripe secret key (sk_... or rk_...)")
		}
	} else {
		c.StripeSecretKey = env.String("STRIPE_SECRET_KEY", "")
	}
	if k := c.StripePublishableKey; k != "" && !strings.HasPrefix(k, "pk_") {
		env.Fail("STRIPE_PUBLISHABLE_KEY", "is not a Stripe publishable key (pk_...)")
	}
	if c.StripeAPIBase != "" {
		checkURL(env, "STRIPE_API_BASE", c.StripeAPIBase)
		c.StripeAPIBase = strings.TrimRight(c.StripeAPIBase, "/")
	}
	if !currencyCode.MatchString(c.Currency) {
		env.Fail("CURRENCY", "%q is not a three-letter ISO currency code", c.Currency)
	}
	return c, env.Err()
}

// checkURL fails key unless its value v is empty or an http(s) URL.
func checkURL(env *config.Env, key, v string) {
	if v == "" {
		return
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		env.Fail(key, "%q is not an http(s) URL", v)
	}
}

// LogAttrs are the service's own settings for the configuration log (service.App.LogConfig),
// secrets masked.
func (c Config) LogAttrs() []any {
	return append(c.Redis.LogAttrs(),
		"provider", c.Provider,
		"stripe_secret_key", config.Mask(c.StripeSecretKey),
		"stripe_webhook_secret", config.Mask(c.WebhookSecret),
		"stripe_publishable_key", c.StripePublishableKey,
		"stripe_api_base", config.RedactURL(c.StripeAPIBase),
		"currency", c.Currency,
		"razorpay_key_id", c.RazorpayKeyID,
		"razorpay_key_secret", config.Mask(c.RazorpayKeySecret),
		"razorpay_webhook_secret", config.Mask(c.RazorpayWebhookSecret),
		"razorpay_api_base", config.RedactURL(c.RazorpayAPIBase),
		"refund_sweep_interval", c.RefundSweepInterval,
		"payment_reconcile_after", c.ReconcileAfter, "payment_reconcile_interval", c.ReconcileInterval,
	)
}

// NewProvider makes the provider the configuration names.
func (c Config) NewProvider(log *slog.Logger) provider.Provider {
	if c.PaymentProvider != nil {
		return c.PaymentProvider
	}
	switch c.Provider {
	case ProviderOffline:
		return provider.NewOffline(log)
	case ProviderRazorpay:
		return provider.NewRazorpay(provider.RazorpayOptions{KeyID: c.RazorpayKeyID, KeySecret: c.RazorpayKeySecret, APIBase: c.RazorpayAPIBase})
	}
	return provider.NewStripe(provider.StripeOptions{SecretKey: c.StripeSecretKey, APIBase: c.StripeAPIBase})
}

// clientConfig is what browsers are told about the payment flow.
func (c Config) clientConfig() api.ClientConfig {
	out := api.ClientConfig{Provider: c.Provider, Currency: c.Currency}
	switch c.Provider {
	case ProviderStripe:
		out.PublishableKey = c.StripePublishableKey
	case ProviderRazorpay:
		out.KeyID = c.RazorpayKeyID
	}
	return out
}

// Run serves the payments service until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	svc := service.NewApp(cfg.Base)
	svc.LogConfig(cfg.LogAttrs()...)
	return svc.Run(ctx, func(ctx context.Context) (http.Handler, error) { return setup(ctx, svc, cfg) })
}

func setup(ctx context.Context, svc *service.App, cfg Config) (http.Handler, error) {
	db, conn, err := svc.Connect(ctx)
	if err != nil {
		return nil, err
	}
	relay := svc.Relay(conn, db.Collection(store.PaymentsCollection))
	st := store.New(db, relay)
	if err := st.EnsureIndexes(ctx); err != nil {
		return nil, err
	}
	a := &app.Service{Store: st, Provider: cfg.NewProvider(svc.Log), Currency: cfg.Currency, Log: svc.Log}
	svc.Every("refund sweeper", cfg.RefundSweepInterval, a.SweepRefunds)
	svc.Every("payment reconciler", cfg.ReconcileInterval, func(ctx context.Context) error {
		return a.Reconcile(ctx, cfg.ReconcileAfter)
	})

	h := &listener.Handlers{App: a, Log: svc.Log}
	if err := service.Listen(ctx, svc, conn, h.OrderCreated); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if err := service.Listen(ctx, svc, conn, h.OrderUpdated); err != nil {
		return nil, err
	}
	if err := service.Listen(ctx, svc, conn, h.OrderCancelled); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if err := service.Listen(ctx, svc, conn, h.OrderCompleted); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}

	router, idem, err := svc.API(ctx, conn, db, cfg.Redis, api.Webhooks...)
	if err != nil {
		return nil, err
	}
	api.Routes(router, &api.Handler{App: a, WebhookSecret: cfg.WebhookSecret, Log: svc.Log, Client: cfg.clientConfig(), Idempotency: idem,
		Razorpay: api.RazorpayConfig{KeyID: cfg.RazorpayKeyID, KeySecret: cfg.RazorpayKeySecret, WebhookSecret: cfg.RazorpayWebhookSecret}})
	return router, nil
}

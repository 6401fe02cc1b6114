// Package web is the storefront: a server that renders the HTML pages where a person browses,
// sells, holds and pays for tickets. It is a client of the public REST API only (through
// API_BASE_URL, forwarding the visitor's session cookie) and owns no data.
package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"ticketing/common/config"
	"ticketing/common/service"
	"ticketing/services/web/internal/api"
	"ticketing/services/web/internal/app"
)

// Name is the service's name.
const Name = "web"

// DefaultStripeJSURL is where Stripe requires Stripe.js to be loaded from.
const DefaultStripeJSURL = "https://js.stripe.com/v3/"

// DefaultRazorpayCheckoutURL is where Razorpay serves checkout.js.
const DefaultRazorpayCheckoutURL = "https://checkout.razorpay.com/v1/checkout.js"

// Config is the storefront's configuration.
type Config struct {
	service.Base
	APIBaseURL  string // API_BASE_URL, required: the gateway or ingress that serves /api/...
	StripeJSURL string // STRIPE_JS_URL, Stripe's; tests serve a fake
	// RazorpayCheckoutURL (RAZORPAY_CHECKOUT_URL) is Razorpay's checkout.js; tests serve a fake.
	RazorpayCheckoutURL string
	APITimeout          time.Duration // API_TIMEOUT, 10s: the longest wait for one API call
}

// LoadConfig reads the configuration from env, naming every problem at once.
func LoadConfig(env *config.Env) (Config, error) {
	c := Config{
		Base:                service.LoadHTTPBase(env, Name),
		APIBaseURL:          strings.TrimRight(env.Required("API_BASE_URL"), "/"),
		StripeJSURL:         env.String("STRIPE_JS_URL", DefaultStripeJSURL),
		RazorpayCheckoutURL: env.String("RAZORPAY_CHECKOUT_URL", DefaultRazorpayCheckoutURL),
		APITimeout:          env.Duration("API_TIMEOUT", 10*time.Second),
	}
	for key, v := range map[string]string{"API_BASE_URL": c.APIBaseURL, "STRIPE_JS_URL": c.StripeJSURL, "RAZORPAY_CHECKOUT_URL": c.RazorpayCheckoutURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			env.Fail(key, "%q is not an http(s) URL", v)
		}
	}
	return c, env.Err()
}

// LogAttrs are the service's own settings for the configuration log.
func (c Config) LogAttrs() []any {
	return []any{"api_base_url", config.RedactURL(c.APIBaseURL), "stripe_js_url", c.StripeJSURL, "razorpay_checkout_url", c.RazorpayCheckoutURL, "api_timeout", c.APITimeout}
}

// Run serves the storefront until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	svc := service.NewApp(cfg.Base)
	svc.LogConfig(cfg.LogAttrs()...)
	return svc.Run(ctx, func(context.Context) (http.Handler, error) {
		client := app.NewClient(cfg.APIBaseURL, cfg.APITimeout)
		return api.NewRouter(svc.Log, client, api.Options{StripeJSURL: cfg.StripeJSURL, RazorpayCheckoutURL: cfg.RazorpayCheckoutURL}), nil
	})
}

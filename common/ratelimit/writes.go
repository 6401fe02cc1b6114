package ratelimit

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"ticketing/common/authn"
	"ticketing/common/config"
	"ticketing/common/errs"
	"ticketing/common/web"
)

// Limits are the allowances of a service's writes (POST, PUT, PATCH, DELETE), counted per
// service in fixed windows.
type Limits struct {
	User    int           // RATE_LIMIT_USER, 60: writes per signed-in user in Window; 0: no limit
	Client  int           // RATE_LIMIT_CLIENT, 600: writes per client address in Window; 0: no limit
	Window  time.Duration // RATE_LIMIT_WINDOW, 1m
	Proxies web.Proxies   // TRUSTED_PROXIES: the hops whose X-Forwarded-For names the client (web.ClientAddr)
}

// LoadLimits reads the limits of writes and TRUSTED_PROXIES from env.
func LoadLimits(env *config.Env) Limits {
	l := Limits{
		User:   env.Int("RATE_LIMIT_USER", 60, 0, 1_000_000_000),
		Client: env.Int("RATE_LIMIT_CLIENT", 600, 0, 1_000_000_000),
		Window: env.Duration("RATE_LIMIT_WINDOW", time.Minute),
	}
	if l.Window < time.Second {
		env.Fail("RATE_LIMIT_WINDOW", "%s is under a second", l.Window)
	}
	p, err := web.ParseProxies(env.String("TRUSTED_PROXIES", ""))
	if err != nil {
		env.Fail("TRUSTED_PROXIES", "%v", err)
	}
	l.Proxies = p
	return l
}

// LogAttrs are the limits for the configuration log.
func (l Limits) LogAttrs() []any {
	return []any{"rate_limit_user", l.User, "rate_limit_client", l.Client, "rate_limit_window", l.Window,
		"trusted_proxies", fmt.Sprint(l.Proxies)}
}

var throttled = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "ticketing_http_throttled_total",
	Help: "Writes refused with 429 by the per-user and per-client rate limits, by service and route pattern.",
}, []string{"service", "route"})

// KeyPrefix starts every key of the limits of writes.
const KeyPrefix = "ticketing:ratelimit:"

// Writes is a middleware of a service's router (after web.CurrentUser, which names the user)
// that counts every write in c, under the service's name, per signed-in user and per client
// address, and answers 429 with Retry-After and the error shape past either limit: a
// refused write counts against neither. GET, HEAD, OPTIONS, requests for no route and the
// routes in exempt (patterns, such as the payment providers' signed webhooks) pass
// uncounted. When c fails the write passes: a limit never answers 5xx.
func Writes(service string, c Counter, l Limits, log *slog.Logger, exempt ...string) func(http.Handler) http.Handler {
	prefix := KeyPrefix + service + ":"
	return func(next http.Handler) http.Handler {
		if l.User <= 0 && l.Client <= 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
				next.ServeHTTP(w, r)
				return
			}
			route := routeOf(r)
			if route == "" || slices.Contains(exempt, route) {
				next.ServeHTTP(w, r)
				return
			}
			var rules []Rule
			if u, ok := authn.UserFrom(r.Context()); ok && l.User > 0 {
				rules = append(rules, Rule{Key: prefix + "user:" + u.ID, Limit: l.User, Window: l.Window})
			}
			if l.Client > 0 {
				rules = append(rules, Rule{Key: prefix + "client:" + web.ClientAddr(r, l.Proxies), Limit: l.Client, Window: l.Window})
			}
			if len(rules) > 0 {
				wait, err := c.Take(r.Context(), rules...)
				if err != nil {
					log.WarnContext(r.Context(), "rate limit not counted", "route", route, "err", err)
				} else if wait > 0 {
					throttled.WithLabelValues(service, route).Inc()
					web.Error(w, r, &errs.Error{Kind: errs.RateLimited, RetryAfter: wait,
						Message: fmt.Sprintf("Too many requests, try again in %d seconds", int(wait.Seconds()+0.999))})
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// routeOf is the pattern of the route r goes to on its router ("" for none), before the
// router has routed it.
func routeOf(r *http.Request) string {
	rctx := chi.RouteContext(r.Context())
	if rctx == nil || rctx.Routes == nil {
		return ""
	}
	tctx := chi.NewRouteContext()
	if !rctx.Routes.Match(tctx, r.Method, r.URL.Path) {
		return ""
	}
	return tctx.RoutePattern()
}

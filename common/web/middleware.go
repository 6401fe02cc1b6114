package web

import (
	"context"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"ticketing/common/authn"
	"ticketing/common/errs"
	"ticketing/common/meta"
)

var (
	requestsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "ticketing_http_requests_total",
		Help: "HTTP requests by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	requestSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ticketing_http_request_duration_seconds",
		Help:    "HTTP request latency by route pattern and method.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"route", "method"})
)

// NewRouter is a chi router with the platform's middleware stack: security headers, request
// id, trace span, access log and metrics, recovery, the current user (when verifier is not
// nil), and the API's error shape for unknown routes and methods.
func NewRouter(log *slog.Logger, verifier *authn.Verifier) chi.Router {
	r := chi.NewRouter()
	r.Use(SecurityHeaders, RequestID, AccessLog(log), Recover(log))
	if verifier != nil {
		r.Use(CurrentUser(verifier))
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, errs.New(errs.NotFound, "Not found"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allowed(r))
		Respond(w, http.StatusMethodNotAllowed, ErrorBody{Errors: []ErrorItem{{Message: "Method not allowed"}}})
	})
	return r
}

func allowed(r *http.Request) string {
	rctx := chi.RouteContext(r.Context())
	if rctx == nil {
		return ""
	}
	out := ""
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		if rctx.Routes != nil && rctx.Routes.Match(chi.NewRouteContext(), m, r.URL.Path) {
			if out != "" {
				out += ", "
			}
			out += m
		}
	}
	return out
}

// SecurityHeaders sets on every response, errors and health probes included: no MIME
// sniffing (a JSON body is never run as a script or styled as HTML), no framing by any page
// (clickjacking), and no full URL in the Referer sent to other origins. A handler may set a
// stricter policy of its own (the storefront adds its Content-Security-Policy).
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// RequestID takes X-Request-Id from the request when it is sane, or makes one, puts it in the
// request's context, and echoes it in the response.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !meta.SafeRequestID(id) {
			id = meta.NewID()
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(meta.WithRequestID(r.Context(), id)))
	})
}

const tracerName = "ticketing/common/web"

// AccessLog traces each request with a server span named by its route pattern (continuing
// the caller's W3C traceparent, if any), logs it with its status and duration, and counts it
// by route pattern. The health probes get no span.
func AccessLog(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			var span trace.Span
			if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
				var ctx context.Context
				ctx, span = otel.Tracer(tracerName).Start(meta.WithTraceParent(r.Context(), r.Header.Get("traceparent")),
					r.Method, trace.WithSpanKind(trace.SpanKindServer),
					trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
				defer span.End()
				r = r.WithContext(ctx)
			}
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			route := "unmatched"
			if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePattern() != "" {
				route = rctx.RoutePattern()
			}
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			requestsTotal.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
			requestSeconds.WithLabelValues(route, r.Method).Observe(elapsed.Seconds())
			if span != nil && span.IsRecording() {
				span.SetName(r.Method + " " + route)
				span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", status))
				if status >= 500 {
					span.SetStatus(codes.Error, http.StatusText(status))
				}
			}
			level := slog.LevelInfo
			if route == "/healthz" || route == "/readyz" || route == "/metrics" {
				level = slog.LevelDebug
			}
			log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path, "route", route,
				"status", status, "bytes", ww.BytesWritten(), "duration_ms", float64(elapsed.Microseconds())/1000)
		})
	}
}

// Recover turns a panic into a 500 with a plain message, logging the panic.
func Recover(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.ErrorContext(r.Context(), "panic", "value", v, "stack", string(debug.Stack()))
					Error(w, r, errs.New(errs.Internal, "panic"))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// CurrentUser verifies the request's token, if any, and puts its user in the context. A
// missing or bad token leaves the request anonymous; RequireAuth decides what that means. A
// session cookie on a request that changes state signs nobody in unless the request passes
// CrossSiteSafe: a browser attaches cookies to requests that other sites make it send.
func CurrentUser(v *authn.Verifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tok := authn.TokenFrom(r); tok != "" {
				if u, err := v.Verify(tok); err == nil {
					if r.Header.Get("Authorization") == "" && !CrossSiteSafe(r) {
						r = r.WithContext(context.WithValue(r.Context(), crossSiteKey{}, true))
					} else {
						r = r.WithContext(authn.WithUser(r.Context(), u))
					}
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

type crossSiteKey struct{}

// CrossSiteSafe reports whether a request may be authenticated by a cookie: a GET, HEAD or
// OPTIONS; or a request sent with Content-Type application/json (which an HTML form, or a
// cross-site fetch without a CORS preflight that no service grants, cannot send) that, when
// the browser says where it comes from (Origin, Sec-Fetch-Site), comes from the API's own
// origin. The storefront's server-side calls send JSON and no Origin.
func CrossSiteSafe(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return false
	}
	return SameOrigin(r)
}

// SameOrigin reports whether a browser's request comes from the site it is sent to, as far as
// the browser says: not when Sec-Fetch-Site is cross-site, nor when Origin names another host
// (or is "null"). A request that says nothing (a server's, an old browser's) passes.
func SameOrigin(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// RequireAuth answers 401 unless a user is signed in (a session cookie on a request that
// fails CrossSiteSafe does not sign in: the answer says so).
func RequireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := authn.UserFrom(r.Context()); !ok {
			msg := "Not authorized"
			if refused, _ := r.Context().Value(crossSiteKey{}).(bool); refused {
				msg = "Not authorized: a session cookie is accepted here only on a JSON request (Content-Type: application/json) from this site"
			}
			Error(w, r, errs.New(errs.Unauthenticated, "%s", msg))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// MustUser is the signed-in user of a request behind RequireAuth.
func MustUser(r *http.Request) authn.User {
	u, _ := authn.UserFrom(r.Context())
	return u
}

// Check is one readiness probe: nil when the dependency answers.
type Check func(ctx context.Context) error

// Probes are what GET /readyz checks. Required are the dependencies without which the pod
// cannot serve at all (its database): one failing makes /readyz answer 503, and Kubernetes
// stops routing to the pod. Degraded are the ones it rides out (NATS: the outbox queues the
// events; a limiter's Redis: it falls back to memory): one failing shows in /readyz's body and
// in ticketing_dependency_up, and the pod stays ready.
type Probes struct {
	Required map[string]Check
	Degraded map[string]Check
}

// ReadyBody is the answer of GET /readyz.
type ReadyBody struct {
	Status  string            `json:"status"`           // "OK", "Degraded" (200) or "Service Unavailable" (503)
	Checks  map[string]string `json:"checks"`           // "ok", "unavailable" (a required check) or "degraded"
	Errors  map[string]string `json:"errors,omitempty"` // with ?verbose: what each failing check said
	Details map[string]any    `json:"details,omitempty"`
}

var dependencyUp = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "ticketing_dependency_up",
	Help: "1 when the dependency answered the last readiness check, else 0; required says whether the service is unready without it (1) or only degraded (0).",
}, []string{"dependency", "required"})

// Health mounts the probes Kubernetes asks: GET /livez (and /healthz, the same: the process
// is alive and serves HTTP; nothing it depends on is asked) and GET /readyz (the required
// checks pass within two seconds, else 503 naming them; degraded dependencies are named with
// status "Degraded" and 200). GET /readyz?verbose adds what each failing check said. details,
// when given, adds what it returns to /readyz's body.
func Health(r chi.Router, p Probes, details ...func() map[string]any) {
	live := func(w http.ResponseWriter, _ *http.Request) {
		Respond(w, http.StatusOK, map[string]string{"status": "ok"})
	}
	r.Get("/livez", live)
	r.Get("/healthz", live)
	for name := range p.Required {
		dependencyUp.WithLabelValues(name, "1")
	}
	for name := range p.Degraded {
		dependencyUp.WithLabelValues(name, "0")
	}
	r.Get("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		_, verbose := r.URL.Query()["verbose"]
		body := ReadyBody{Status: "OK", Checks: map[string]string{}}
		status := http.StatusOK
		run := func(checks map[string]Check, required bool) {
			for name, check := range checks {
				err := check(ctx)
				up, req := 1.0, "0"
				if required {
					req = "1"
				}
				switch {
				case err == nil:
					body.Checks[name] = "ok"
				case required:
					up, status = 0, http.StatusServiceUnavailable
					body.Checks[name] = "unavailable"
				default:
					up = 0
					body.Checks[name] = "degraded"
					if body.Status == "OK" {
						body.Status = "Degraded"
					}
				}
				dependencyUp.WithLabelValues(name, req).Set(up)
				if err != nil {
					slog.Default().WarnContext(ctx, "readiness check failed", "check", name, "required", required, "err", err)
					if verbose {
						if body.Errors == nil {
							body.Errors = map[string]string{}
						}
						msg := err.Error()
						if len(msg) > 300 {
							msg = msg[:300]
						}
						body.Errors[name] = msg
					}
				}
			}
		}
		run(p.Required, true)
		run(p.Degraded, false)
		if status != http.StatusOK {
			body.Status = http.StatusText(status)
		}
		for _, d := range details {
			body.Details = d()
		}
		Respond(w, status, body)
	})
}

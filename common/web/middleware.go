package web

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
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

// NewRouter is a chi router with the platform's middleware stack: request id, trace span,
// access log and metrics, recovery, the current user (when verifier is not nil), and the API's
// error shape for unknown routes and methods.
func NewRouter(log *slog.Logger, verifier *authn.Verifier) chi.Router {
	r := chi.NewRouter()
	r.Use(RequestID, AccessLog(log), Recover(log))
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
// missing or bad token leaves the request anonymous; RequireAuth decides what that means.
func CurrentUser(v *authn.Verifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tok := authn.TokenFrom(r); tok != "" {
				if u, err := v.Verify(tok); err == nil {
					r = r.WithContext(authn.WithUser(r.Context(), u))
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// RequireAuth answers 401 unless a user is signed in.
func RequireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := authn.UserFrom(r.Context()); !ok {
			Error(w, r, errs.New(errs.Unauthenticated, "Not authorized"))
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

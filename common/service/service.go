// Package service is the bootstrap every service shares: its common settings, logger, HTTP
// and metrics servers, background tasks, and a graceful shutdown in the right order.
package service

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"ticketing/common/authn"
	"ticketing/common/bus"
	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/meta"
	"ticketing/common/ratelimit"
	"ticketing/common/telemetry"
)

// Base is the configuration every service reads.
type Base struct {
	Name            string
	HTTPAddr        string        // HTTP_ADDR, ":3000"
	MetricsAddr     string        // METRICS_ADDR, ":9090"; "off" disables it
	Pprof           bool          // PPROF, false: serve net/http/pprof under /debug/pprof/ on METRICS_ADDR
	LogFormat       string        // LOG_FORMAT, json or text
	LogLevel        string        // LOG_LEVEL, info
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT, 20s
	NATSURL         string        // NATS_URL
	Topology        events.Topology
	RetryBudget     time.Duration // BUS_RETRY_BUDGET, 10m: how long a failing event is retried, from its first failure, before it is dead-lettered
	MongoURI        string        // MONGODB_URI
	MongoDatabase   string        // MONGODB_DATABASE, the service name
	JWTPublicKey    ed25519.PublicKey
	OTLPEndpoint    string // OTEL_EXPORTER_OTLP_ENDPOINT, OTLP/HTTP base URL; "" exports no traces
	// Limits (RATE_LIMIT_USER, RATE_LIMIT_CLIENT, RATE_LIMIT_WINDOW, TRUSTED_PROXIES) are the
	// allowances of the API's writes per user and per client address (NewRouter).
	Limits ratelimit.Limits

	// Ready, when set, is called with the HTTP address once the service serves (tests and the
	// dev stack use it with HTTP_ADDR 127.0.0.1:0).
	Ready func(addr string) `json:"-"`
}

// LoadBase reads the shared settings of service name from env. withMongo says whether the
// service has a database.
func LoadBase(env *config.Env, name string, withMongo bool) Base {
	b := LoadHTTPBase(env, name)
	b.NATSURL = env.Required("NATS_URL")
	b.Topology = events.Topology{
		Prefix:   env.String("BUS_PREFIX", ""),
		Replicas: env.Int("STREAM_REPLICAS", 1, 1, 5),
	}
	b.RetryBudget = env.Duration("BUS_RETRY_BUDGET", bus.DefaultRetryFor)
	b.Limits = ratelimit.LoadLimits(env)
	if withMongo {
		b.MongoURI = env.Required("MONGODB_URI")
		b.MongoDatabase = env.String("MONGODB_DATABASE", name)
	}
	if pemKey := env.Required("JWT_PUBLIC_KEY"); pemKey != "" {
		k, err := authn.ParsePublicKey(pemKey)
		if err != nil {
			env.Fail("JWT_PUBLIC_KEY", "%v", err)
		}
		b.JWTPublicKey = k
	}
	return b
}

// LoadHTTPBase reads the settings of a service that only serves HTTP (no bus, no database,
// no token verification): addresses, logs, shutdown and traces.
func LoadHTTPBase(env *config.Env, name string) Base {
	b := Base{
		Name:            name,
		HTTPAddr:        env.String("HTTP_ADDR", ":3000"),
		MetricsAddr:     env.String("METRICS_ADDR", ":9090"),
		Pprof:           env.Bool("PPROF", false),
		LogFormat:       env.OneOf("LOG_FORMAT", "json", "json", "text"),
		LogLevel:        env.OneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error"),
		ShutdownTimeout: env.Duration("SHUTDOWN_TIMEOUT", 20*time.Second),
		OTLPEndpoint:    env.String("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
	}
	if b.OTLPEndpoint != "" {
		if err := telemetry.CheckEndpoint(b.OTLPEndpoint); err != nil {
			env.Fail("OTEL_EXPORTER_OTLP_ENDPOINT", "%v", err)
		}
	}
	return b
}

// Logger is the service's logger, also installed as slog's default.
func (b Base) Logger() *slog.Logger {
	l := meta.NewLogger(os.Stderr, b.LogFormat, b.LogLevel, b.Name)
	slog.SetDefault(l)
	return l
}

// ConnectBus connects to NATS and ensures the streams exist.
func (b Base) ConnectBus(ctx context.Context, log *slog.Logger) (*bus.Conn, error) {
	host, _ := os.Hostname()
	return bus.Connect(ctx, b.NATSURL, b.Name+"@"+host, b.Topology, log)
}

// App runs one service: its HTTP server, its background tasks, and its shutdown.
type App struct {
	Base Base
	Log  *slog.Logger

	tasks   []task
	onStop  []func(context.Context)
	onClose []func(context.Context)
}

type task struct {
	name string
	run  func(context.Context) error
}

// Go runs fn in the background until shutdown cancels its context. An error other than the
// context's own stops the service.
func (a *App) Go(name string, fn func(context.Context) error) {
	a.tasks = append(a.tasks, task{name, fn})
}

// OnStop registers fn to run after HTTP stopped and before background tasks are cancelled
// (stop consumers here, so that the outbox relay still flushes what they wrote).
func (a *App) OnStop(fn func(context.Context)) { a.onStop = append(a.onStop, fn) }

// OnClose registers fn to run last, in reverse order of registration (close connections).
func (a *App) OnClose(fn func(context.Context)) { a.onClose = append(a.onClose, fn) }

// Serve binds the HTTP and metrics ports, runs the tasks, and blocks until ctx ends or a
// task fails; then it shuts down within Base.ShutdownTimeout: stop accepting HTTP, stop
// consumers, cancel tasks (the relay flushes), close connections.
func (a *App) Serve(ctx context.Context, handler http.Handler) error {
	ln, err := net.Listen("tcp", a.Base.HTTPAddr)
	if err != nil {
		a.abort()
		return fmt.Errorf("listen on HTTP_ADDR %s: %w", a.Base.HTTPAddr, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn)}
	servers := []*http.Server{srv}
	listeners := []net.Listener{ln}
	if a.Base.MetricsAddr != "" && a.Base.MetricsAddr != "off" {
		mln, err := net.Listen("tcp", a.Base.MetricsAddr)
		if err != nil {
			ln.Close()
			a.abort()
			return fmt.Errorf("listen on METRICS_ADDR %s: %w", a.Base.MetricsAddr, err)
		}
		servers = append(servers, &http.Server{Handler: metricsHandler(a.Base.Pprof), ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, mln)
	}

	taskCtx, cancelTasks := context.WithCancel(context.Background())
	defer cancelTasks()
	failed := make(chan error, len(a.tasks)+len(servers))
	var wg sync.WaitGroup
	for _, t := range a.tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := t.run(taskCtx); err != nil && !errors.Is(err, context.Canceled) {
				failed <- fmt.Errorf("%s: %w", t.name, err)
			}
		}()
	}
	for i, s := range servers {
		go func() {
			if err := s.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				failed <- err
			}
		}()
	}
	traces := "off"
	if a.Base.OTLPEndpoint != "" {
		if u, err := url.Parse(telemetry.TracesURL(a.Base.OTLPEndpoint)); err == nil {
			traces = u.Redacted()
		}
	}
	a.Log.Info("serving", "http", ln.Addr().String(), "metrics", a.Base.MetricsAddr, "traces", traces)
	if a.Base.Ready != nil {
		a.Base.Ready(ln.Addr().String())
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-failed:
		a.Log.Error("stopping after a failure", "err", runErr)
	}

	a.Log.Info("shutting down", "timeout", a.Base.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), a.Base.ShutdownTimeout)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(sctx)
	}
	for _, fn := range a.onStop {
		fn(sctx)
	}
	cancelTasks()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		a.Log.Warn("background tasks did not finish within the shutdown timeout")
	}
	a.close()
	a.Log.Info("stopped")
	return runErr
}

// metricsHandler serves /metrics and, with withPprof, the runtime profiles under
// /debug/pprof/ (CPU: /debug/pprof/profile?seconds=30). The metrics port is internal: the
// ingress never routes to it.
func metricsHandler(withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	if withPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func (a *App) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := len(a.onClose) - 1; i >= 0; i-- {
		a.onClose[i](ctx)
	}
	a.onClose = nil
}

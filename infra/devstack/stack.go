package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"ticketing/common/standin"
)

// Services in start order, with the dev stack's fixed ports (BasePort + index). The
// storefront (web) is a client of the others, through the gateway; the waiting room (queue)
// came after it and keeps the port after it.
var Services = []string{"auth", "tickets", "orders", "expiration", "payments", "web", "queue"}

// Options say what to start. The zero value of each field has a sensible meaning.
type Options struct {
	Addr     string // gateway address, "localhost:8080"
	DataDir  string // where data survives restarts, ".devstack"
	Clean    bool   // start from empty data
	Multi    bool   // each service as its own process (built into DataDir/bin)
	Replicas int    // replicas of orders and tickets in multi-process mode, 2
	BasePort int    // first service port (3001...); 0 picks free ports

	NATSURL   string // external NATS; "" embeds one (single) or spawns one (multi)
	RedisAddr string // external Redis; "" starts redis-server from PATH, else miniredis
	RedisDB   int
	MongoURI  string // a real MongoDB; "" runs the stand-in in DataDir
	// MongoBackend is the stand-in's backend: "auto" (the command's default) runs it on a
	// private PostgreSQL cluster in DataDir when PostgreSQL's server binaries are installed,
	// else on SQLite; "postgresql" uses the server at PostgresURL; "sqlite" ("" too, for the
	// tests) SQLite.
	MongoBackend, PostgresURL string

	Env      map[string]string // extra settings for every service (EXPIRATION_WINDOW, ...)
	LogLevel string            // services' log level, "info"
	Logs     io.Writer         // services' logs in single-process mode; files in DataDir/logs in multi
	Log      *slog.Logger      // the dev stack's own messages
}

// Stack is a running platform.
type Stack struct {
	URL       string // the gateway, http://host:port
	NATSURL   string
	RedisAddr string
	RedisKind string
	MongoURI  string
	MongoKind string
	Prefix    string // bus prefix isolating this stack on a shared NATS server

	opts    Options
	log     *slog.Logger
	env     map[string]map[string]string // per service
	gw      *gateway
	gwSrv   *http.Server
	apiURL  string // the gateway's listening address, for the storefront
	closers []func()

	// single-process mode
	cancelRun context.CancelFunc
	runWG     sync.WaitGroup

	// multi-process mode
	mu        sync.Mutex
	procs     map[string][]*proc
	binDir    string
	natsProc  *proc
	natsEmbed *server.Server
	redis     *redisHandle
}

func (o *Options) defaults() {
	if o.Addr == "" {
		o.Addr = "localhost:8080"
	}
	if o.DataDir == "" {
		o.DataDir = ".devstack"
	}
	if o.Replicas <= 0 {
		o.Replicas = 2
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.Logs == nil {
		o.Logs = os.Stderr
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}

// Start brings the platform up and returns once the gateway answers and every service is
// ready. Close stops it.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	opts.defaults()
	s := &Stack{opts: opts, log: opts.Log, gw: newGateway(), procs: map[string][]*proc{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := claim(opts.Addr, "gateway"); err != nil {
		return nil, err
	}
	if opts.Clean {
		if err := os.RemoveAll(opts.DataDir); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	s.opts.DataDir = dataDir

	if err := s.startDependencies(ctx); err != nil {
		return nil, err
	}
	// The gateway listens first: the storefront calls the API through it. It answers 404
	// for a service until that service is ready.
	if err := s.startGateway(); err != nil {
		return nil, err
	}
	if opts.Multi {
		err = s.startProcesses(ctx)
	} else {
		err = s.startInProcess(ctx)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Stack) startDependencies(ctx context.Context) error {
	d := s.opts.DataDir
	// NATS
	switch {
	case s.opts.NATSURL != "":
		if err := checkNATS(ctx, s.opts.NATSURL); err != nil {
			return err
		}
		s.NATSURL = s.opts.NATSURL
		prefix, err := persisted(filepath.Join(d, "bus-prefix"), func() string { return "dev" + randomHex(4) })
		if err != nil {
			return err
		}
		s.Prefix = prefix
	case s.opts.Multi:
		// Spawned below, once the binaries exist, so that it can be stopped and restarted.
	default:
		srv, err := startNATS(filepath.Join(d, "nats"), 0)
		if err != nil {
			return err
		}
		s.natsEmbed = srv
		s.closers = append(s.closers, func() { srv.Shutdown(); srv.WaitForShutdown() })
		s.NATSURL = srv.ClientURL()
	}
	// MongoDB
	if s.opts.MongoURI != "" {
		s.MongoURI, s.MongoKind = s.opts.MongoURI, "MongoDB at MONGODB_URI"
	} else {
		backend, pgURL, where := s.opts.MongoBackend, s.opts.PostgresURL, ""
		if backend == "" {
			backend = standin.BackendSQLite
		}
		if backend == "auto" {
			backend = standin.BackendSQLite
			if bin := postgresBinDir(); bin != "" {
				pg, err := startPostgres(ctx, bin, filepath.Join(d, "postgres"))
				if err != nil {
					return fmt.Errorf("private PostgreSQL for the MongoDB stand-in (-mongo-backend sqlite avoids it): %w", err)
				}
				s.closers = append(s.closers, pg.stop) // after the stand-in's Close, added below
				backend, pgURL, where = standin.BackendPostgreSQL, pg.url, " (a private cluster in "+pg.dir+")"
			} else {
				s.log.Warn(sqliteWarning)
			}
		}
		mdir := filepath.Join(d, "mongo")
		if err := os.MkdirAll(mdir, 0o755); err != nil {
			return err
		}
		srv, err := standin.Start(ctx, standin.Options{Dir: mdir, Backend: backend, PostgreSQLURL: pgURL,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return fmt.Errorf("MongoDB stand-in: %w", err)
		}
		s.closers = append(s.closers, srv.Close)
		s.MongoURI, s.MongoKind = srv.URI(), "stand-in (FerretDB on "+backend+where+", gated)"
	}
	// Redis
	r, err := startRedis(ctx, s.opts.RedisAddr, s.opts.RedisDB, filepath.Join(d, "redis"))
	if err != nil {
		return err
	}
	s.redis = r
	s.closers = append(s.closers, r.stop)
	s.RedisAddr, s.RedisKind = r.addr, r.kind
	return nil
}

// serviceEnv is the environment of every service, completed per service by addresses.
func (s *Stack) serviceEnv() (map[string]map[string]string, error) {
	priv, pub, err := keys(filepath.Join(s.opts.DataDir, "keys"))
	if err != nil {
		return nil, err
	}
	queuePriv, queuePub, err := keyPair(filepath.Join(s.opts.DataDir, "keys"), "queue")
	if err != nil {
		return nil, err
	}
	webhookSecret, err := persisted(filepath.Join(s.opts.DataDir, "keys", "stripe-webhook-secret"),
		func() string { return "whsec_dev" + randomHex(16) })
	if err != nil {
		return nil, err
	}
	common := map[string]string{
		"NATS_URL":         s.NATSURL,
		"BUS_PREFIX":       s.Prefix,
		"MONGODB_URI":      s.MongoURI,
		"JWT_PUBLIC_KEY":   pub,
		"LOG_FORMAT":       "text",
		"LOG_LEVEL":        s.opts.LogLevel,
		"SHUTDOWN_TIMEOUT": "10s",
		// The sweeper is a safety net; on the stand-in each sweep decodes every live order
		// (FerretDB pushes no range filter down), which showed in the bench's tail latency
		// when it ran every 5s. Its grace is the default: with 5s, once a burst of expiries
		// ran more than 5s late, every replica's sweeper would cancel the same orders as the
		// expiry handlers.
		"SWEEP_INTERVAL": "30s",
		"SWEEP_GRACE":    "30s",
		// Traces go to a local collector (Jaeger, Tempo...) when one is given.
		"OTEL_EXPORTER_OTLP_ENDPOINT": os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"),
		// Every service counts its limits in the stack's Redis. Every visitor of the dev stack
		// comes from this machine, through the gateway and the storefront (trusted hops); the
		// write limits keep their defaults (RATE_LIMIT_USER 60 and RATE_LIMIT_CLIENT 600 a
		// minute, ample for a person), and the tests and the bench turn them off with -env.
		"REDIS_ADDR":      s.RedisAddr,
		"REDIS_DB":        strconv.Itoa(s.redis.db),
		"TRUSTED_PROXIES": "127.0.0.0/8,::1/128",
	}
	provider := "offline"
	switch {
	case os.Getenv("STRIPE_SECRET_KEY") != "":
		provider = "stripe"
	case os.Getenv("RAZORPAY_KEY_ID") != "":
		provider = "razorpay"
	}
	per := map[string]map[string]string{
		// The tests and benches sign up many accounts: the sign-up allowances are the
		// production mechanism with room for them.
		"auth":       {"JWT_PRIVATE_KEY": priv, "SIGNUP_CLIENT_LIMIT": "100000", "SIGNUP_GLOBAL_LIMIT": "100000"},
		"tickets":    {},
		"orders":     {"QUEUE_PUBLIC_KEY": queuePub},
		"expiration": {"ASYNQ_QUEUE": "expiration" + s.Prefix},
		"payments": {"PAYMENT_PROVIDER": provider, "STRIPE_SECRET_KEY": os.Getenv("STRIPE_SECRET_KEY"),
			"STRIPE_WEBHOOK_SECRET":   cmpOr(os.Getenv("STRIPE_WEBHOOK_SECRET"), webhookSecret),
			"STRIPE_PUBLISHABLE_KEY":  os.Getenv("STRIPE_PUBLISHABLE_KEY"),
			"RAZORPAY_KEY_ID":         os.Getenv("RAZORPAY_KEY_ID"),
			"RAZORPAY_KEY_SECRET":     os.Getenv("RAZORPAY_KEY_SECRET"),
			"RAZORPAY_WEBHOOK_SECRET": os.Getenv("RAZORPAY_WEBHOOK_SECRET")},
		"web":   {"API_BASE_URL": s.apiURL},
		"queue": {"QUEUE_PRIVATE_KEY": queuePriv, "QUEUE_KEY_PREFIX": s.Prefix},
	}
	out := map[string]map[string]string{}
	for _, name := range Services {
		env := maps.Clone(common)
		env["MONGODB_DATABASE"] = name
		maps.Copy(env, per[name])
		maps.Copy(env, s.opts.Env)
		for k, v := range env {
			if v == "" {
				delete(env, k)
			}
		}
		out[name] = env
	}
	s.env = out
	return out, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// addr is the address of replica r of the i-th service.
func (s *Stack) addr(i, r int) (string, error) {
	if s.opts.BasePort == 0 {
		p, err := freePort()
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), err
	}
	a := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.opts.BasePort+i+10*r))
	return a, claim(a, Services[i]+" service")
}

func (s *Stack) startGateway() error {
	host, port, _ := net.SplitHostPort(s.opts.Addr)
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("gateway: cannot listen on %s: %w", s.opts.Addr, err)
	}
	if port == "0" || port == "" {
		_, port, _ = net.SplitHostPort(ln.Addr().String())
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	s.URL = "http://" + net.JoinHostPort(host, port)
	s.apiURL = "http://" + ln.Addr().String()
	s.gwSrv = &http.Server{Handler: s.gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.gwSrv.Serve(ln) }()
	return nil
}

// Close stops the gateway, the services, then their dependencies.
func (s *Stack) Close() {
	if s.gwSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.gwSrv.Shutdown(ctx)
		cancel()
	}
	if s.cancelRun != nil {
		s.cancelRun()
		s.runWG.Wait()
	}
	s.mu.Lock()
	var all []*proc
	for _, ps := range s.procs {
		all = append(all, ps...)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
	if s.natsProc != nil {
		s.natsProc.stop()
	}
	for _, c := range slices.Backward(s.closers) {
		c()
	}
	s.closers = nil
}

// FlushRedis empties the stack's Redis database, as a Redis restart without persistence would.
func (s *Stack) FlushRedis(ctx context.Context) error { return s.redis.flush(ctx) }

var errSingle = errors.New("only in multi-process mode")

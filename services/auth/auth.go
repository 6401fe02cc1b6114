// Package auth is the auth service: accounts, sessions (Ed25519-signed JWTs) and the JWKS
// document with which the other services' public key can be fetched.
package auth

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/authn"
	"ticketing/common/bus"
	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/mongodb"
	"ticketing/common/ratelimit"
	"ticketing/common/service"
	"ticketing/common/web"
	"ticketing/services/auth/internal/api"
	"ticketing/services/auth/internal/app"
	"ticketing/services/auth/internal/limiter"
	"ticketing/services/auth/internal/password"
	"ticketing/services/auth/internal/store"
)

// Config is the auth service's configuration.
type Config struct {
	service.Base

	PrivateKey   ed25519.PrivateKey // JWT_PRIVATE_KEY, PKCS#8 PEM; must match JWT_PUBLIC_KEY
	TokenTTL     time.Duration      // TOKEN_TTL, 24h
	CookieSecure bool               // COOKIE_SECURE, false
	// The client address of the limits below is Base.Limits.Proxies (TRUSTED_PROXIES: CIDRs
	// of the hops, ingress and storefront, whose X-Forwarded-For and X-Real-IP name it).

	Argon2            password.Params // ARGON2_TIME, ARGON2_MEMORY_KIB, ARGON2_THREADS
	Argon2Concurrency int             // ARGON2_CONCURRENCY, GOMAXPROCS: hashes at once
	// ARGON2_SIGNUP_CONCURRENCY, half of ARGON2_CONCURRENCY (at least 1, below it when it is
	// above 1): how many of those slots sign-ups may hold at once, sign-ins keeping the rest;
	// ARGON2_SIGNUP_QUEUE, 8 per sign-up slot: sign-ups waiting for one, past which one is
	// refused at once (429).
	Argon2SignUpConcurrency int
	Argon2SignUpQueue       int

	// Redis of the limiters, the sign-in and sign-up throttles and the rate limits of every
	// write (service.LoadRedis: REDIS_ADDR or REDIS_SENTINEL_ADDRS...); unset: they count in
	// process.
	Redis service.Redis

	SignInEmailLimit  int           // SIGNIN_EMAIL_LIMIT, 5 failures per email
	SignInClientLimit int           // SIGNIN_CLIENT_LIMIT, 20 failures per client address
	SignInWindow      time.Duration // SIGNIN_WINDOW, 15m

	SignUpClientLimit  int           // SIGNUP_CLIENT_LIMIT, 20 sign-ups per client address...
	SignUpClientWindow time.Duration // SIGNUP_CLIENT_WINDOW, ...in 1h
	SignUpGlobalLimit  int           // SIGNUP_GLOBAL_LIMIT, 600 sign-ups from everyone...
	SignUpGlobalWindow time.Duration // SIGNUP_GLOBAL_WINDOW, ...in 1m
}

// LoadConfig reads the configuration from env, naming every problem at once.
func LoadConfig(env *config.Env) (Config, error) {
	c := Config{
		Base:         service.LoadBase(env, "auth", true),
		TokenTTL:     env.Duration("TOKEN_TTL", 24*time.Hour),
		CookieSecure: env.Bool("COOKIE_SECURE", false),
		Argon2: password.Params{
			Time:      uint32(env.Int("ARGON2_TIME", int(password.Default.Time), 1, password.MaxTime)),
			MemoryKiB: uint32(env.Int("ARGON2_MEMORY_KIB", int(password.Default.MemoryKiB), 8, password.MaxMemoryKiB)),
			Threads:   uint8(env.Int("ARGON2_THREADS", int(password.Default.Threads), 1, 255)),
			SaltLen:   password.Default.SaltLen,
			KeyLen:    password.Default.KeyLen,
		},
		Argon2Concurrency: env.Int("ARGON2_CONCURRENCY", runtime.GOMAXPROCS(0), 1, 1024),
		Redis:             service.LoadRedis(env, false),
		SignInEmailLimit:  env.Int("SIGNIN_EMAIL_LIMIT", 5, 1, 1_000_000),
		SignInClientLimit: env.Int("SIGNIN_CLIENT_LIMIT", 20, 1, 1_000_000),
		SignInWindow:      env.Duration("SIGNIN_WINDOW", 15*time.Minute),

		SignUpClientLimit:  env.Int("SIGNUP_CLIENT_LIMIT", 20, 1, 1_000_000),
		SignUpClientWindow: env.Duration("SIGNUP_CLIENT_WINDOW", time.Hour),
		SignUpGlobalLimit:  env.Int("SIGNUP_GLOBAL_LIMIT", 600, 1, 1_000_000_000),
		SignUpGlobalWindow: env.Duration("SIGNUP_GLOBAL_WINDOW", time.Minute),
	}
	c.Argon2SignUpConcurrency = env.Int("ARGON2_SIGNUP_CONCURRENCY", max(1, c.Argon2Concurrency/2), 1, 1024)
	if c.Argon2SignUpConcurrency >= c.Argon2Concurrency && c.Argon2Concurrency > 1 {
		env.Fail("ARGON2_SIGNUP_CONCURRENCY", "%d must be below ARGON2_CONCURRENCY %d: sign-ins keep the rest of the slots",
			c.Argon2SignUpConcurrency, c.Argon2Concurrency)
	}
	c.Argon2SignUpQueue = env.Int("ARGON2_SIGNUP_QUEUE", 8*c.Argon2SignUpConcurrency, 1, 1_000_000)
	if env.String("TRUST_PROXY", "") != "" {
		env.Fail("TRUST_PROXY", "is replaced by TRUSTED_PROXIES, the CIDRs of the proxies whose X-Forwarded-For to believe")
	}
	if c.TokenTTL > events.SessionRetention {
		env.Fail("TOKEN_TTL", "%s is longer than the %s for which the bus keeps revocations", c.TokenTTL, events.SessionRetention)
	}
	if err := c.Argon2.Validate(); err != nil {
		env.Fail("ARGON2_MEMORY_KIB", "%v", err)
	}
	if pemKey := env.Required("JWT_PRIVATE_KEY"); pemKey != "" {
		k, err := authn.ParsePrivateKey(pemKey)
		switch {
		case err != nil:
			env.Fail("JWT_PRIVATE_KEY", "%v", err)
		case c.JWTPublicKey != nil && !c.JWTPublicKey.Equal(k.Public()):
			env.Fail("JWT_PRIVATE_KEY", "does not match JWT_PUBLIC_KEY")
		default:
			c.PrivateKey = k
		}
	}
	if err := env.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LogAttrs are the service's own settings for the configuration log (service.App.LogConfig),
// secrets masked.
func (c Config) LogAttrs() []any {
	return append([]any{
		"jwt_private_key", config.Mask(string(c.PrivateKey)),
		"token_ttl", c.TokenTTL, "cookie_secure", c.CookieSecure,
		"argon2id", c.Argon2.String(), "argon2_concurrency", c.Argon2Concurrency,
		"argon2_signup_concurrency", c.Argon2SignUpConcurrency, "argon2_signup_queue", c.Argon2SignUpQueue,
		"signin_email_limit", c.SignInEmailLimit,
		"signin_client_limit", c.SignInClientLimit, "signin_window", c.SignInWindow,
		"signup_client_limit", c.SignUpClientLimit, "signup_client_window", c.SignUpClientWindow,
		"signup_global_limit", c.SignUpGlobalLimit, "signup_global_window", c.SignUpGlobalWindow,
	}, c.Redis.LogAttrs()...)
}

// Run serves the auth service until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	svc := service.NewApp(cfg.Base)
	svc.LogConfig(cfg.LogAttrs()...)
	if cfg.Argon2.BelowOWASP() {
		svc.Log.Warn("argon2id parameters are below OWASP's minimum (m=47104 KiB at t=1, m=19456 KiB at t=2, ...)",
			"argon2id", cfg.Argon2.String())
	}
	return svc.Run(ctx, func(ctx context.Context) (http.Handler, error) {
		db, conn, err := svc.Connect(ctx)
		if err != nil {
			return nil, err
		}
		// Revocations are published through the accounts' outbox, and followed, like every
		// service does, so that currentuser and the password change refuse revoked tokens too.
		relay := svc.Relay(conn, db.Collection(store.Collection))
		verifier, err := svc.Verifier(ctx, conn)
		if err != nil {
			return nil, err
		}
		srv, err := newServer(ctx, cfg, svc.Log, db, verifier, relay, conn.Ready)
		if err != nil {
			return nil, err
		}
		svc.OnClose(func(context.Context) { srv.close() })
		return srv.handler, nil
	})
}

// server is the service's HTTP side over its database, built apart from App so that tests
// and benchmarks can drive the very handler that Run serves.
type server struct {
	handler http.Handler
	close   func() // releases what newServer opened (not the database)
}

// newServer ensures the indexes, connects the sign-in limiter (Redis when configured), and
// builds the router with every route, health checks included, verifying sessions with
// verifier. The events of the accounts (revocations) are handed to relay; a nil relay leaves
// them to a relay's poll. natsReady, when not nil, is the bus's readiness: a degraded check,
// since without NATS the outbox queues the revocations.
func newServer(ctx context.Context, cfg Config, log *slog.Logger, db *mongo.Database, verifier *authn.Verifier, relay bus.Notifier, natsReady web.Check) (*server, error) {
	users := store.NewUsers(db, relay)
	if err := users.EnsureIndexes(ctx); err != nil {
		return nil, err
	}
	// Without its database auth cannot serve; without Redis the limiter counts in process, and
	// without NATS the outbox queues the revocations.
	probes := web.Probes{Required: map[string]web.Check{"mongodb": mongodb.Ready(db.Client())}, Degraded: map[string]web.Check{}}
	if natsReady != nil {
		probes.Degraded["nats"] = natsReady
	}
	closeFn := func() {}

	// Sign-in checks wait on Redis: short limits, then the limiters count in process.
	rdb := cfg.Redis.LimiterClient()
	if rdb == nil {
		log.Warn("REDIS_ADDR is not set: the sign-in, sign-up and write limits count in this process only, so each replica allows the full limits")
	} else {
		closeFn = func() { _ = rdb.Close() }
		probes.Degraded["redis"] = func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	}
	counter := ratelimit.New(rdb, log)
	throttle := &limiter.SignIn{Counter: counter, EmailLimit: cfg.SignInEmailLimit,
		ClientLimit: cfg.SignInClientLimit, Window: cfg.SignInWindow, Log: log}

	// Sign-ups hash in a share of the slots, with a queue of their own: a flood of sign-ups is
	// refused (429) once its share and queue are full, sign-ins keep the rest of the slots, and
	// hashes never outnumber the slots, so a sign-in hashes at full speed.
	hasher, err := password.NewHasher(cfg.Argon2, cfg.Argon2Concurrency)
	if err != nil {
		closeFn()
		return nil, err
	}
	signUpHasher, err := hasher.Share(password.Limits{
		Concurrency: cfg.Argon2SignUpConcurrency, Queue: cfg.Argon2SignUpQueue, MaxWait: 2 * time.Second})
	if err != nil {
		closeFn()
		return nil, err
	}
	accounts, err := app.New(ctx, users, hasher, throttle, log)
	if err != nil {
		closeFn()
		return nil, err
	}
	accounts.LimitSignUps(signUpHasher, &limiter.SignUp{Counter: counter,
		ClientLimit: cfg.SignUpClientLimit, ClientWindow: cfg.SignUpClientWindow,
		GlobalLimit: cfg.SignUpGlobalLimit, GlobalWindow: cfg.SignUpGlobalWindow})

	router := service.NewRouter(cfg.Base, log, verifier, counter, probes)
	(&api.Handler{
		Accounts:     accounts,
		Signer:       authn.NewSigner(cfg.PrivateKey, cfg.TokenTTL),
		PublicKey:    cfg.JWTPublicKey,
		CookieSecure: cfg.CookieSecure,
		Proxies:      cfg.Limits.Proxies,
	}).Mount(router)
	return &server{handler: router, close: closeFn}, nil
}

package service

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"ticketing/common/config"
)

// Redis is where a service finds Redis: one server (REDIS_ADDR), or the primary that Redis
// Sentinel names (REDIS_SENTINEL_ADDRS, REDIS_MASTER_NAME), followed through failovers. The
// expiration service's asynq queue, the waiting room's lines and the rate limits read it alike.
type Redis struct {
	Addr             string   // REDIS_ADDR, host:port; unused with Sentinel
	SentinelAddrs    []string // REDIS_SENTINEL_ADDRS, host:port,host:port,...
	MasterName       string   // REDIS_MASTER_NAME, "mymaster": the primary's name at the Sentinels
	SentinelPassword string   // REDIS_SENTINEL_PASSWORD, for Sentinels with requirepass
	Username         string   // REDIS_USERNAME, for a Redis with ACL users
	Password         string   // REDIS_PASSWORD
	DB               int      // REDIS_DB, 0
	TLS              bool     // REDIS_TLS, false: TLS to Redis and to the Sentinels

	// Not read from the environment: a service's own limits (go-redis defaults when zero;
	// MaxRetries -1: none).
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	MaxRetries                             int
}

// LoadRedis reads the Redis settings. With required, REDIS_ADDR or REDIS_SENTINEL_ADDRS must
// be set; otherwise neither may be, and Configured reports false.
func LoadRedis(env *config.Env, required bool) Redis {
	r := Redis{
		Addr:             env.String("REDIS_ADDR", ""),
		MasterName:       env.String("REDIS_MASTER_NAME", "mymaster"),
		SentinelPassword: env.String("REDIS_SENTINEL_PASSWORD", ""),
		Username:         env.String("REDIS_USERNAME", ""),
		Password:         env.String("REDIS_PASSWORD", ""),
		DB:               env.Int("REDIS_DB", 0, 0, 1<<20),
		TLS:              env.Bool("REDIS_TLS", false),
	}
	for a := range strings.SplitSeq(env.String("REDIS_SENTINEL_ADDRS", ""), ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			env.Fail("REDIS_SENTINEL_ADDRS", "%q is not host:port", a)
		}
		r.SentinelAddrs = append(r.SentinelAddrs, a)
	}
	switch {
	case len(r.SentinelAddrs) > 0:
	case r.Addr != "":
		if _, _, err := net.SplitHostPort(r.Addr); err != nil {
			env.Fail("REDIS_ADDR", "%q is not host:port", r.Addr)
		}
	case required:
		env.Fail("REDIS_ADDR", "is required (or REDIS_SENTINEL_ADDRS)")
	}
	return r
}

// Configured reports whether a Redis is set.
func (r Redis) Configured() bool { return r.Addr != "" || len(r.SentinelAddrs) > 0 }

// Sentinel reports whether the primary is found through Sentinel.
func (r Redis) Sentinel() bool { return len(r.SentinelAddrs) > 0 }

// String says where Redis is, for messages.
func (r Redis) String() string {
	if r.Sentinel() {
		return fmt.Sprintf("primary %q of the Sentinels %s", r.MasterName, strings.Join(r.SentinelAddrs, ","))
	}
	return r.Addr
}

// Options are the go-redis options of one server at REDIS_ADDR.
func (r Redis) Options() *redis.Options {
	o := &redis.Options{Addr: r.Addr, Username: r.Username, Password: r.Password, DB: r.DB,
		DialTimeout: r.DialTimeout, ReadTimeout: r.ReadTimeout, WriteTimeout: r.WriteTimeout, MaxRetries: r.MaxRetries}
	if r.TLS {
		host, _, _ := net.SplitHostPort(r.Addr)
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	}
	return o
}

// FailoverOptions are the go-redis options of the Sentinel setup (what asynq's
// RedisFailoverClientOpt builds too). With TLS the server name is left to the address
// dialled, since the primary changes.
func (r Redis) FailoverOptions() *redis.FailoverOptions {
	o := &redis.FailoverOptions{MasterName: r.MasterName, SentinelAddrs: r.SentinelAddrs,
		SentinelPassword: r.SentinelPassword, Username: r.Username, Password: r.Password, DB: r.DB,
		DialTimeout: r.DialTimeout, ReadTimeout: r.ReadTimeout, WriteTimeout: r.WriteTimeout, MaxRetries: r.MaxRetries}
	if r.TLS {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return o
}

// Client connects to Redis: to REDIS_ADDR, or to the primary the Sentinels name, following
// failovers. asynq takes it as is (asynq.NewClientFromRedisClient and the like).
func (r Redis) Client() *redis.Client {
	if r.Sentinel() {
		return redis.NewFailoverClient(r.FailoverOptions())
	}
	return redis.NewClient(r.Options())
}

// LimiterClient connects to a Redis that counts rate limits only, with short timeouts and no
// retries (every write waits on it; past them the limits count in process), without checking
// that it answers; nil when no Redis is configured.
func (r Redis) LimiterClient() *redis.Client {
	if !r.Configured() {
		return nil
	}
	r.DialTimeout, r.ReadTimeout, r.WriteTimeout, r.MaxRetries = 2*time.Second, time.Second, time.Second, -1
	return r.Client()
}

// LogAttrs are the settings for the configuration log, secrets masked.
func (r Redis) LogAttrs() []any {
	return []any{"redis_addr", r.Addr, "redis_sentinel_addrs", strings.Join(r.SentinelAddrs, ","),
		"redis_master_name", r.MasterName, "redis_sentinel_password", config.Mask(r.SentinelPassword),
		"redis_username", r.Username, "redis_password", config.Mask(r.Password), "redis_db", r.DB, "redis_tls", r.TLS}
}

package expiration

import (
	"strings"
	"testing"
	"time"

	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/testkit"
)

func baseEnv(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{"NATS_URL": "nats://127.0.0.1:4222", "JWT_PUBLIC_KEY": testkit.NewKeyPair(t).PublicPEM, "REDIS_ADDR": "redis:6379"}
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := LoadConfig(config.FromMap(baseEnv(t)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "expiration" || cfg.MongoURI != "" {
		t.Errorf("base %+v", cfg.Base)
	}
	if cfg.Redis.Addr != "redis:6379" || cfg.Redis.DB != 0 || cfg.Redis.TLS || cfg.Concurrency != 20 ||
		cfg.Queue != "expiration" || cfg.Retention != events.DefaultDuplicateWindow || cfg.ShutdownTimeout != 20*time.Second {
		t.Errorf("defaults %+v", cfg)
	}
	if o := cfg.Redis.Options(); o.TLSConfig != nil || o.Addr != "redis:6379" {
		t.Errorf("redis options %+v", o)
	}
}

func TestLoadConfigSettings(t *testing.T) {
	env := baseEnv(t)
	for k, v := range map[string]string{
		"REDIS_ADDR": "redis.example.com:6380", "REDIS_USERNAME": "exp", "REDIS_PASSWORD": "s3cret", "REDIS_DB": "3",
		"REDIS_TLS": "true", "ASYNQ_CONCURRENCY": "500", "ASYNQ_QUEUE": "expiry-eu", "TASK_RETENTION": "1h",
	} {
		env[k] = v
	}
	cfg, err := LoadConfig(config.FromMap(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Concurrency != 500 || cfg.Queue != "expiry-eu" || cfg.Retention != time.Hour {
		t.Errorf("settings %+v", cfg)
	}
	o := cfg.Redis.Options()
	if o.Addr != "redis.example.com:6380" || o.Username != "exp" || o.Password != "s3cret" || o.DB != 3 {
		t.Errorf("redis options %+v", o)
	}
	if o.TLSConfig == nil || o.TLSConfig.ServerName != "redis.example.com" {
		t.Errorf("TLS config %+v, want server name redis.example.com", o.TLSConfig)
	}
}

func TestLoadConfigRefusesBadSettings(t *testing.T) {
	for _, tc := range []struct {
		key, value, want string
	}{
		{"REDIS_ADDR", "", "REDIS_ADDR: is required"},
		{"REDIS_ADDR", "redis", "REDIS_ADDR"},
		{"REDIS_DB", "-1", "REDIS_DB"},
		{"REDIS_TLS", "maybe", "REDIS_TLS"},
		{"ASYNQ_CONCURRENCY", "0", "ASYNQ_CONCURRENCY"},
		{"ASYNQ_QUEUE", "two words", "ASYNQ_QUEUE"},
		{"ASYNQ_QUEUE", "{x}", "ASYNQ_QUEUE"},
		{"TASK_RETENTION", "5m", "shorter than the JetStream duplicate window 10m0s"},
		{"TASK_RETENTION", "soon", "TASK_RETENTION"},
	} {
		env := baseEnv(t)
		env[tc.key] = tc.value
		_, err := LoadConfig(config.FromMap(env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: err = %v, want one naming %q", tc.key, tc.value, err, tc.want)
		}
	}
}

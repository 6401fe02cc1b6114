package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"ticketing/common/config"
	"ticketing/common/testkit"
	"ticketing/services/auth/internal/password"
)

func baseEnv(t *testing.T) map[string]string {
	t.Helper()
	k := testkit.NewKeyPair(t)
	return map[string]string{
		"NATS_URL":        "nats://127.0.0.1:4222",
		"MONGODB_URI":     "mongodb://127.0.0.1:27017",
		"JWT_PUBLIC_KEY":  k.PublicPEM,
		"JWT_PRIVATE_KEY": k.PrivatePEM,
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(config.FromMap(baseEnv(t)))
	if err != nil {
		t.Fatal(err)
	}
	if c.TokenTTL != 24*time.Hour || c.CookieSecure || len(c.Limits.Proxies) != 0 || c.Argon2 != password.Default ||
		c.SignUpClientLimit != 20 || c.SignUpClientWindow != time.Hour || c.SignUpGlobalLimit != 600 ||
		c.SignUpGlobalWindow != time.Minute || c.Argon2SignUpConcurrency < 1 || c.Argon2SignUpQueue != 8*c.Argon2SignUpConcurrency ||
		c.Redis.Configured() || c.SignInEmailLimit != 5 || c.SignInClientLimit != 20 ||
		c.SignInWindow != 15*time.Minute || c.MongoDatabase != "auth" || c.Argon2Concurrency < 1 {
		t.Errorf("defaults: %+v", c)
	}
	if !c.JWTPublicKey.Equal(c.PrivateKey.Public()) {
		t.Error("the key pair does not match")
	}
	for _, a := range c.LogAttrs() {
		if s, ok := a.(string); ok && strings.Contains(s, "PRIVATE") {
			t.Error("the log attributes show the private key")
		}
	}
}

func TestLoadConfigSettings(t *testing.T) {
	env := baseEnv(t)
	for k, v := range map[string]string{
		"TOKEN_TTL": "2h", "COOKIE_SECURE": "true", "TRUSTED_PROXIES": "10.0.0.0/8,192.168.0.1",
		"ARGON2_SIGNUP_CONCURRENCY": "2", "ARGON2_SIGNUP_QUEUE": "5", "SIGNUP_CLIENT_LIMIT": "7",
		"SIGNUP_CLIENT_WINDOW": "2h", "SIGNUP_GLOBAL_LIMIT": "70", "SIGNUP_GLOBAL_WINDOW": "30s",
		"ARGON2_TIME": "2", "ARGON2_MEMORY_KIB": "19456", "ARGON2_THREADS": "1", "ARGON2_CONCURRENCY": "3",
		"REDIS_ADDR": "127.0.0.1:6379", "REDIS_PASSWORD": "secret", "REDIS_TLS": "true", "REDIS_DB": "4",
		"SIGNIN_EMAIL_LIMIT": "3", "SIGNIN_CLIENT_LIMIT": "9", "SIGNIN_WINDOW": "5m",
	} {
		env[k] = v
	}
	c, err := LoadConfig(config.FromMap(env))
	if err != nil {
		t.Fatal(err)
	}
	want := password.Params{Time: 2, MemoryKiB: 19456, Threads: 1, SaltLen: 16, KeyLen: 32}
	if c.TokenTTL != 2*time.Hour || !c.CookieSecure || len(c.Limits.Proxies) != 2 || c.Argon2 != want || c.Argon2Concurrency != 3 ||
		c.Argon2SignUpConcurrency != 2 || c.Argon2SignUpQueue != 5 || c.SignUpClientLimit != 7 ||
		c.SignUpClientWindow != 2*time.Hour || c.SignUpGlobalLimit != 70 || c.SignUpGlobalWindow != 30*time.Second ||
		c.Redis.Addr != "127.0.0.1:6379" || c.Redis.Password != "secret" || !c.Redis.TLS || c.Redis.DB != 4 ||
		c.SignInEmailLimit != 3 || c.SignInClientLimit != 9 || c.SignInWindow != 5*time.Minute {
		t.Errorf("settings: %+v", c)
	}
	rdb := c.Redis.LimiterClient() // short timeouts: a sign-in waits on it
	defer rdb.Close()
	if o := rdb.Options(); o.TLSConfig == nil || o.DB != 4 || o.Password != "secret" || o.ReadTimeout != time.Second {
		t.Errorf("redis options %+v", o)
	}
	for i, a := range c.LogAttrs() {
		if a == "secret" {
			t.Errorf("log attribute %d shows the Redis password", i)
		}
	}
}

func TestLoadConfigRefusesBadSettings(t *testing.T) {
	otherPriv := testkit.NewKeyPair(t).PrivatePEM
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	rsaPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER}))

	for _, tc := range []struct {
		name string
		set  map[string]string
		want []string // each must appear in the error
	}{
		{"no private key", map[string]string{"JWT_PRIVATE_KEY": ""}, []string{"JWT_PRIVATE_KEY: is required"}},
		{"not PEM", map[string]string{"JWT_PRIVATE_KEY": "hello"}, []string{"JWT_PRIVATE_KEY", "no PEM block"}},
		{"RSA key", map[string]string{"JWT_PRIVATE_KEY": rsaPEM}, []string{"JWT_PRIVATE_KEY", "not Ed25519"}},
		{"pair mismatch", map[string]string{"JWT_PRIVATE_KEY": otherPriv}, []string{"does not match JWT_PUBLIC_KEY"}},
		{"no public key", map[string]string{"JWT_PUBLIC_KEY": ""}, []string{"JWT_PUBLIC_KEY: is required"}},
		{"argon2 time 0", map[string]string{"ARGON2_TIME": "0"}, []string{"ARGON2_TIME"}},
		{"argon2 memory too small", map[string]string{"ARGON2_MEMORY_KIB": "4"}, []string{"ARGON2_MEMORY_KIB"}},
		{"argon2 memory below 8 KiB per thread", map[string]string{"ARGON2_MEMORY_KIB": "16", "ARGON2_THREADS": "4"}, []string{"ARGON2_MEMORY_KIB", "8 KiB per thread"}},
		{"argon2 threads", map[string]string{"ARGON2_THREADS": "256"}, []string{"ARGON2_THREADS"}},
		{"bool", map[string]string{"COOKIE_SECURE": "maybe"}, []string{"COOKIE_SECURE"}},
		{"ttl", map[string]string{"TOKEN_TTL": "-1h"}, []string{"TOKEN_TTL"}},
		{"ttl beyond the revocations' retention", map[string]string{"TOKEN_TTL": "200h"}, []string{"TOKEN_TTL"}},
		{"limit", map[string]string{"SIGNIN_EMAIL_LIMIT": "0"}, []string{"SIGNIN_EMAIL_LIMIT"}},
		{"several at once", map[string]string{"TOKEN_TTL": "soon", "SIGNIN_WINDOW": "x", "JWT_PRIVATE_KEY": ""},
			[]string{"TOKEN_TTL", "SIGNIN_WINDOW", "JWT_PRIVATE_KEY"}},
	} {
		env := baseEnv(t)
		for k, v := range tc.set {
			env[k] = v
		}
		_, err := LoadConfig(config.FromMap(env))
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
			}
		}
	}
}

// TRUSTED_PROXIES must be networks; the old TRUST_PROXY switch is refused with a pointer to it.
func TestLoadConfigRefusesBadProxies(t *testing.T) {
	for k, v := range map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,ingress", "TRUST_PROXY": "true"} {
		env := baseEnv(t)
		env[k] = v
		if _, err := LoadConfig(config.FromMap(env)); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: err %v, want one naming %s", k, v, err, k)
		}
	}
}

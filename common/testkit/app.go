package testkit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"ticketing/common/authn"
)

var keys struct {
	once        sync.Once
	priv, pub   string
	signer      *authn.Signer
	initFailure error
}

func keyPair(t testing.TB) (priv, pub string) {
	t.Helper()
	keys.once.Do(func() {
		keys.priv, keys.pub, keys.initFailure = authn.GenerateKey()
		if keys.initFailure == nil {
			k, err := authn.ParsePrivateKey(keys.priv)
			keys.initFailure = err
			keys.signer = authn.NewSigner(k, time.Hour)
		}
	})
	if keys.initFailure != nil {
		t.Fatalf("testkit: key pair: %v", keys.initFailure)
	}
	return keys.priv, keys.pub
}

// KeyPair is a fresh Ed25519 key pair as authn.GenerateKey makes it: the PEM halves that
// the services read, and the keys parsed.
type KeyPair struct {
	PrivatePEM, PublicPEM string
	Private               ed25519.PrivateKey
	Public                ed25519.PublicKey
}

// NewKeyPair makes a fresh key pair (not the one of ServiceEnv); it fails t when it cannot.
func NewKeyPair(t testing.TB) KeyPair {
	t.Helper()
	var k KeyPair
	var err error
	if k.PrivatePEM, k.PublicPEM, err = authn.GenerateKey(); err != nil {
		t.Fatalf("testkit: key pair: %v", err)
	}
	if k.Private, err = authn.ParsePrivateKey(k.PrivatePEM); err != nil {
		t.Fatalf("testkit: key pair: %v", err)
	}
	if k.Public, err = authn.ParsePublicKey(k.PublicPEM); err != nil {
		t.Fatalf("testkit: key pair: %v", err)
	}
	return k
}

// Token is a valid session token for a user, signed with the key pair of ServiceEnv.
func Token(t testing.TB, userID, email string) string {
	t.Helper()
	keyPair(t)
	tok, _, err := keys.signer.Issue(userID, email)
	if err != nil {
		t.Fatalf("testkit: token: %v", err)
	}
	return tok
}

// ServiceEnv is the environment of a service under test: a fresh database on the MongoDB in
// use, natsURL, an HTTP port chosen by the system, no metrics port, quiet text logs, and the
// test binary's JWT key pair (JWT_PRIVATE_KEY too, which only auth reads). The rate limits
// of writes are off: tests send many writes from 127.0.0.1 as few users (a test of the
// limits sets RATE_LIMIT_USER and RATE_LIMIT_CLIENT).
func ServiceEnv(t testing.TB, natsURL string) map[string]string {
	t.Helper()
	priv, pub := keyPair(t)
	db := Mongo(t)
	return map[string]string{
		"NATS_URL":          natsURL,
		"MONGODB_URI":       MongoURI(t),
		"MONGODB_DATABASE":  db.Name(),
		"HTTP_ADDR":         "127.0.0.1:0",
		"METRICS_ADDR":      "off",
		"LOG_FORMAT":        "text",
		"LOG_LEVEL":         "warn",
		"SHUTDOWN_TIMEOUT":  "10s",
		"JWT_PUBLIC_KEY":    pub,
		"JWT_PRIVATE_KEY":   priv,
		"RATE_LIMIT_USER":   "0",
		"RATE_LIMIT_CLIENT": "0",
	}
}

// Serve runs a service until the test ends and returns its base URL ("http://addr"). run
// must pass ready to the service (as Base.Ready) and block until ctx ends, as Run does.
func Serve(t testing.TB, run func(ctx context.Context, ready func(addr string)) error) string {
	t.Helper()
	url, stop := ServeStoppable(t, run)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("testkit: %v", err)
		}
	})
	return url
}

// ServeStoppable is Serve with a stop function for tests that stop or restart a service
// before they end. stop cancels the service and returns its error, if it was not a clean
// stop; calling it again returns the same.
func ServeStoppable(t testing.TB, run func(ctx context.Context, ready func(addr string)) error) (url string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrCh := make(chan string, 1)
	stopped := make(chan struct{})
	var runErr error
	go func() {
		defer close(stopped)
		runErr = run(ctx, func(addr string) { addrCh <- addr })
	}()
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case <-stopped:
				if runErr != nil && !errors.Is(runErr, context.Canceled) {
					stopErr = fmt.Errorf("service stopped with %w", runErr)
				}
			case <-time.After(30 * time.Second):
				stopErr = errors.New("service did not stop within 30s")
			}
		})
		return stopErr
	}
	select {
	case addr := <-addrCh:
		return "http://" + addr, stop
	case <-stopped:
		t.Fatalf("testkit: service did not start: %v", runErr)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("testkit: service did not start within 60s")
	}
	return "", stop
}

// Eventually polls cond every 20ms until it holds or timeout passes, then fails the test
// with msg.
func Eventually(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("testkit: not within %s: %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

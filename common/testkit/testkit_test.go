package testkit_test

import (
	"cmp"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"ticketing/common/testkit"
)

func TestNATSRestartKeepsStreams(t *testing.T) {
	ctx := t.Context()
	s := testkit.StartNATS(t, t.TempDir())
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"order.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "order.created", []byte("1")); err != nil {
		t.Fatal(err)
	}

	url := s.ClientURL()
	s.Restart()
	if s.ClientURL() != url {
		t.Fatalf("URL after restart = %s, want %s", s.ClientURL(), url)
	}

	// The client reconnects by itself; the stream and its message survive.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := js.Stream(ctx, "ORDERS")
		if err == nil && st.CachedInfo().State.Msgs == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream after restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

func TestNATSIsEmbeddedPerTest(t *testing.T) {
	t.Setenv(testkit.EnvNATSURL, "nats://127.0.0.1:1")
	a, b := testkit.NATS(t), testkit.NATS(t)
	if a == b || a == "nats://127.0.0.1:1" {
		t.Fatalf("NATS gave %s and %s, want two embedded servers", a, b)
	}
	nc, err := nats.Connect(a)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
}

func TestRedisRestartLosesData(t *testing.T) {
	t.Setenv(testkit.EnvRedisAddr, "")
	ctx := t.Context()
	var addr string
	t.Run("server", func(t *testing.T) {
		r := testkit.Redis(t)
		addr = r.Addr
		c := r.Client()
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if got, _ := c.ConfigGet(ctx, "save").Result(); got["save"] != "" {
			t.Errorf("save = %q, want nothing saved", got["save"])
		}

		r.Restart()
		if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
			t.Errorf("GET after restart: %v, want redis.Nil", err)
		}
		if err := c.Set(ctx, "k", "w", 0).Err(); err != nil {
			t.Fatal(err)
		}
		r.Flush()
		if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
			t.Errorf("DBSIZE after Flush = %d, %v; want 0", n, err)
		}
	})
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("redis-server on %s still listens after its test ended", addr)
	}
}

func TestRedisAddrLeasesDistinctDatabases(t *testing.T) {
	addr := cmp.Or(os.Getenv(testkit.EnvRedisAddr), "127.0.0.1:6379")
	if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		t.Skipf("no Redis at %s: %v", addr, err)
	} else {
		c.Close()
	}
	t.Setenv(testkit.EnvRedisAddr, addr)
	ctx := t.Context()
	a, b := testkit.Redis(t), testkit.Redis(t)
	if a.DB == b.DB || a.DB == 0 || b.DB == 0 {
		t.Fatalf("databases %d and %d, want two distinct ones other than 0", a.DB, b.DB)
	}
	ca, cb := a.Client(), b.Client()
	if err := ca.Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cb.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("other database sees the key: %v", err)
	}
	a.Restart() // flushes: the server is not ours
	if err := ca.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET after Restart: %v, want redis.Nil", err)
	}
}

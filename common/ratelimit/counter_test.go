package ratelimit

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"ticketing/common/testkit"
)

// counterCase is one Counter implementation under the shared suite. new makes a counter and
// the function that moves its clock past d, either by a fake clock or by waiting for the
// real one.
type counterCase struct {
	name string
	new  func(t *testing.T) (c Counter, advance func(d time.Duration))
}

func counters() []counterCase {
	return []counterCase{
		{
			name: "memory",
			new: func(*testing.T) (Counter, func(time.Duration)) {
				clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
				return NewMemoryClock(clock.Now), clock.Add
			},
		},
		{
			// The dev stack's Redis when no redis-server is installed.
			name: "miniredis",
			new: func(t *testing.T) (Counter, func(time.Duration)) {
				m := miniredis.RunT(t)
				c := redis.NewClient(&redis.Options{Addr: m.Addr()})
				t.Cleanup(func() { _ = c.Close() })
				return NewRedis(c), m.FastForward
			},
		},
		{
			name: "redis",
			new: func(t *testing.T) (Counter, func(time.Duration)) {
				c := NewRedis(testkit.Redis(t).Client())
				return c, func(d time.Duration) {
					// Redis's clock is real: wait (polling, bounded) until a key set now with
					// window d has expired.
					probe := Rule{Key: "probe", Limit: 1, Window: d}
					ctx := context.Background()
					if w, err := c.Take(ctx, probe); err != nil || w != 0 {
						t.Fatalf("probe take = %v, %v", w, err)
					}
					testkit.Eventually(t, d+5*time.Second, "probe window to end", func() bool {
						w, err := c.Take(ctx, probe)
						return err == nil && w == 0
					})
				}
			},
		},
	}
}

func take(t *testing.T, c Counter, rules ...Rule) time.Duration {
	t.Helper()
	w, err := c.Take(t.Context(), rules...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// exhaust takes r's whole allowance from c, then fails t with msg unless one more take is
// refused.
func exhaust(t *testing.T, c Counter, r Rule, msg string) {
	t.Helper()
	for range r.Limit {
		take(t, c, r)
	}
	if w := take(t, c, r); w == 0 {
		t.Fatal(msg)
	}
}

func TestCounters(t *testing.T) {
	for _, cc := range counters() {
		t.Run(cc.name, func(t *testing.T) {
			t.Run("limit then wait", func(t *testing.T) {
				c, _ := cc.new(t)
				r := Rule{Key: "a", Limit: 3, Window: time.Minute}
				for i := range 3 {
					if w := take(t, c, r); w != 0 {
						t.Fatalf("take %d refused with wait %v", i+1, w)
					}
				}
				w := take(t, c, r)
				if w <= 0 || w > time.Minute {
					t.Fatalf("take past the limit: wait %v, want in (0, 1m]", w)
				}
				if w2 := take(t, c, r); w2 <= 0 || w2 > w {
					t.Errorf("refused takes extend the window: %v then %v", w, w2)
				}
			})
			t.Run("all or nothing over keys", func(t *testing.T) {
				c, _ := cc.new(t)
				email := Rule{Key: "email", Limit: 1, Window: time.Minute}
				client := Rule{Key: "client", Limit: 3, Window: time.Minute}
				if w := take(t, c, email, client); w != 0 {
					t.Fatal("first take refused")
				}
				if w := take(t, c, email, client); w == 0 {
					t.Fatal("email at its limit, yet allowed")
				}
				// The refused take counted nothing for client: two more fit.
				other := Rule{Key: "email2", Limit: 5, Window: time.Minute}
				for i := range 2 {
					if w := take(t, c, other, client); w != 0 {
						t.Fatalf("client take %d refused: the refused take was counted", i+2)
					}
				}
				if w := take(t, c, other, client); w == 0 {
					t.Fatal("client past its limit, yet allowed")
				}
			})
			t.Run("give and reset", func(t *testing.T) {
				c, _ := cc.new(t)
				r := Rule{Key: "g", Limit: 2, Window: time.Minute}
				exhaust(t, c, r, "past the limit, yet allowed")
				if err := c.Give(t.Context(), "g"); err != nil {
					t.Fatal(err)
				}
				if w := take(t, c, r); w != 0 {
					t.Fatal("a given-back attempt is still counted")
				}
				if err := c.Reset(t.Context(), "g"); err != nil {
					t.Fatal(err)
				}
				// Give never goes below zero.
				for range 3 {
					if err := c.Give(t.Context(), "g", "never-taken"); err != nil {
						t.Fatal(err)
					}
				}
				exhaust(t, c, r, "gives past zero raised the allowance")
			})
			t.Run("window ends", func(t *testing.T) {
				c, advance := cc.new(t)
				r := Rule{Key: "w", Limit: 1, Window: 300 * time.Millisecond}
				exhaust(t, c, r, "past the limit, yet allowed")
				advance(r.Window)
				if w := take(t, c, r); w != 0 {
					t.Errorf("still refused (%v) after the window ended", w)
				}
			})
			t.Run("exact under concurrency", func(t *testing.T) {
				c, _ := cc.new(t)
				r := Rule{Key: "race", Limit: 7, Window: time.Minute}
				var allowed atomic.Int32
				var wg sync.WaitGroup
				start := make(chan struct{})
				for range 40 {
					wg.Go(func() {
						<-start
						w, err := c.Take(context.Background(), r)
						if err != nil {
							t.Error(err)
						} else if w == 0 {
							allowed.Add(1)
						}
					})
				}
				close(start)
				wg.Wait()
				if n := allowed.Load(); n != 7 {
					t.Errorf("%d of 40 concurrent takes allowed, want exactly 7", n)
				}
			})
		})
	}
}

// Replicas sharing Redis share the counts.
func TestRedisIsSharedAcrossClients(t *testing.T) {
	srv := testkit.Redis(t)
	a, b := NewRedis(srv.Client()), NewRedis(srv.Client())
	r := Rule{Key: "shared", Limit: 2, Window: time.Minute}
	take(t, a, r)
	take(t, b, r)
	if w := take(t, a, r); w == 0 {
		t.Error("third attempt over two clients allowed")
	}
}

func TestMemoryDropsEndedWindows(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	m := NewMemoryClock(clock.Now)
	for i := range 100 {
		take(t, m, Rule{Key: string(rune('a' + i)), Limit: 5, Window: time.Minute})
	}
	clock.Add(2 * time.Minute)
	take(t, m, Rule{Key: "fresh", Limit: 5, Window: time.Minute})
	if n := len(m.counts); n != 1 {
		t.Errorf("%d windows kept after the others ended, want 1", n)
	}
}

// quietRedis drops go-redis's own log lines (dial failures of the dead server below).
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// While Redis fails, Fallback counts in process instead of lifting the limits.
func TestFallbackCountsInProcessWhileRedisFails(t *testing.T) {
	redis.SetLogger(quietRedis{})
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = dead.Close() })
	f := &Fallback{Primary: NewRedis(dead), Secondary: NewMemory(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r := Rule{Key: "f", Limit: 2, Window: time.Minute}
	exhaust(t, f, r, "limits lifted while Redis is down")
	if err := f.Reset(t.Context(), "f"); err != nil {
		t.Fatal(err)
	}
	if w := take(t, f, r); w != 0 {
		t.Error("Reset did not reach the in-process counter")
	}
}

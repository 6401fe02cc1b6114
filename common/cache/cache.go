// Package cache is the in-process read cache of a service's read side (listings shown to
// anyone): an entry lives at most a TTL, so a change made elsewhere (another replica) shows
// within that bound; one load per key runs at a time however many readers ask (single
// flight), so a rush of readers costs one store query; an entry read in the second half of
// its life is reloaded in the background while it still answers, so the readers of a key read
// often do not wait for the store at all; the service's own writes put their
// result or drop the entry at once; and with a version function an older value never
// replaces a newer one, so a late write or a load that read before a write cannot roll an
// entry back. Nothing that decides (a reservation, a payment) may read through it.
package cache

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// lookups counts the lookups of every cache by outcome: hit (a young entry), refresh (a hit
// that started a background load), load (this reader queried the store), shared (it waited
// for another reader's load).
var lookups = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "ticketing_cache_lookups_total",
	Help: "Lookups of the in-process read caches, by cache and outcome: hit (a young entry), refresh (a hit that started a background query), load (a store query), shared (waited for another reader's query).",
}, []string{"cache", "outcome"})

// Cache maps K to V. The zero value is not usable; see New.
type Cache[K comparable, V any] struct {
	ttl       time.Duration
	refresh   time.Duration
	max       int
	version   func(V) int64
	now       func() time.Time
	log       *slog.Logger
	hit       prometheus.Counter
	refreshes prometheus.Counter
	load      prometheus.Counter
	shared    prometheus.Counter

	mu        sync.Mutex
	entries   map[K]entry[V]
	flights   map[K]*flight[V]
	lastSweep time.Time
}

type entry[V any] struct {
	v  V
	at time.Time // when v was known to be current: its load's start, or its Put
}

// flight is one load of a key, which the readers that come meanwhile wait for.
type flight[V any] struct {
	done   chan struct{}
	v      V
	err    error
	doomed bool // a Clear came meanwhile: the value is not kept (guarded by Cache.mu)
}

// Options tune a cache.
type Options[V any] struct {
	// TTL is how long an entry answers (required, positive).
	TTL time.Duration
	// Refresh is the age from which a read that finds the entry still answers from it but
	// also starts a load of the key in the background, unless one runs. Readers of a key
	// read more often than TTL-Refresh then keep finding a young entry, and wait for the
	// store only when its query takes longer than that. The entry's age bound stays the
	// TTL. Default TTL/2; TTL or more: never.
	Refresh time.Duration
	// Max bounds the entries kept (default 10,000): beyond it, expired entries are swept,
	// and a value that still does not fit is returned without being kept.
	Max int
	// Version, when set, orders the values of a key: an entry is never replaced by a value
	// of a lower version. It runs under the cache's lock: it must not block or panic.
	Version func(V) int64
	// Now is the clock (time.Now by default).
	Now func() time.Time
	// Log gets the panics of background loads (slog.Default by default).
	Log *slog.Logger
}

// New is an empty cache named name (its label in ticketing_cache_lookups_total).
func New[K comparable, V any](name string, o Options[V]) *Cache[K, V] {
	if o.TTL <= 0 {
		panic(fmt.Sprintf("cache %s: TTL must be positive", name))
	}
	if o.Max <= 0 {
		o.Max = 10_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Refresh <= 0 {
		o.Refresh = o.TTL / 2
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Cache[K, V]{
		ttl: o.TTL, refresh: o.Refresh, max: o.Max, version: o.Version, now: o.Now,
		log:       o.Log.With("cache", name),
		hit:       lookups.WithLabelValues(name, "hit"),
		refreshes: lookups.WithLabelValues(name, "refresh"),
		load:      lookups.WithLabelValues(name, "load"),
		shared:    lookups.WithLabelValues(name, "shared"),
		entries:   map[K]entry[V]{}, flights: map[K]*flight[V]{},
	}
}

// TTL is the longest an entry answers.
func (c *Cache[K, V]) TTL() time.Duration { return c.ttl }

// Get is key's value: the entry while it is younger than the TTL, else load's answer. One
// load per key runs at a time: readers that come while it runs wait for it (or for ctx).
// A read of an entry older than Refresh answers from it and starts the load in the
// background. The load runs without ctx's cancellation, since other readers may wait for
// it. An error is returned and not kept. With versions, the answer is the newer of the
// load's and the entry's, and kept if newer: a reader never sees a key go back to an older
// version, even from a load that read a lagging copy or ran across a write. Without
// versions, a load that a Clear came across is returned but not kept.
func (c *Cache[K, V]) Get(ctx context.Context, key K, load func(context.Context) (V, error)) (V, error) {
	c.mu.Lock()
	if e, ok := c.entries[key]; ok {
		if age := c.now().Sub(e.at); age < c.ttl {
			_, running := c.flights[key]
			if age < c.refresh || running {
				c.mu.Unlock()
				c.hit.Inc()
				return e.v, nil
			}
			f, start := c.startFlight(key)
			c.mu.Unlock()
			c.refreshes.Inc()
			go c.backgroundFill(context.WithoutCancel(ctx), key, f, start, load)
			return e.v, nil
		}
	}
	if f, ok := c.flights[key]; ok {
		c.mu.Unlock()
		c.shared.Inc()
		select {
		case <-f.done:
			return f.v, f.err
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
	}
	f, start := c.startFlight(key)
	c.mu.Unlock()
	c.load.Inc()
	return c.fill(context.WithoutCancel(ctx), key, f, start, load)
}

// startFlight records a load of key starting now. Under c.mu.
func (c *Cache[K, V]) startFlight(key K) (*flight[V], time.Time) {
	f := &flight[V]{done: make(chan struct{})}
	c.flights[key] = f
	return f, c.now()
}

// fill runs f, the load of key that started at start, keeps its value and hands it to the
// readers waiting for it. A panic of load releases them with an error, then goes up.
func (c *Cache[K, V]) fill(ctx context.Context, key K, f *flight[V], start time.Time, load func(context.Context) (V, error)) (V, error) {
	finished := false
	defer func() {
		if !finished { // load panicked: release the waiters
			c.mu.Lock()
			c.endFlight(key, f)
			c.mu.Unlock()
			f.err = fmt.Errorf("cache: the load of a key panicked")
			close(f.done)
		}
	}()
	v, err := load(ctx)
	c.mu.Lock()
	c.endFlight(key, f)
	if err == nil {
		if c.version != nil || !f.doomed {
			c.keep(key, v, start)
		}
		if e, ok := c.entries[key]; ok && c.version != nil && c.version(e.v) > c.version(v) {
			v = e.v
		}
	}
	c.mu.Unlock()
	f.v, f.err = v, err
	finished = true
	close(f.done)
	return v, err
}

// backgroundFill is fill for a refresh, which no reader waits for when it starts: its error
// is left to the next load, and a panic is logged, not raised.
func (c *Cache[K, V]) backgroundFill(ctx context.Context, key K, f *flight[V], start time.Time, load func(context.Context) (V, error)) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("a background load panicked", "key", key, "panic", p)
		}
	}()
	_, _ = c.fill(ctx, key, f, start, load)
}

// endFlight removes f from the running loads if it is still key's. Under c.mu.
func (c *Cache[K, V]) endFlight(key K, f *flight[V]) {
	if c.flights[key] == f {
		delete(c.flights, key)
	}
}

// Put records v, the value a write of this service stored, as key's value known current
// since at (take the time the write began: the entry then expires no later than it
// should), unless the entry holds a newer version. When it replaces the entry, a load of key
// running meanwhile no longer takes new readers.
func (c *Cache[K, V]) Put(key K, v V, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keep(key, v, at) {
		c.forgetFlight(key)
	}
}

// Clear drops every entry, after a write that may change any of them; loads running
// meanwhile are not kept. (It drops the versions too: it is for caches whose values have
// none, such as pages of a listing.)
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, f := range c.flights {
		f.doomed = true
		delete(c.flights, k)
	}
	clear(c.entries)
}

// Len is the number of entries kept, young or not.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// forgetFlight dooms key's running load and lets the next reader start a fresh one, which
// sees the write. Under c.mu.
func (c *Cache[K, V]) forgetFlight(key K) {
	if f, ok := c.flights[key]; ok {
		f.doomed = true
		delete(c.flights, key)
	}
}

// keep stores v as key's entry, known current since at, unless the entry has a newer
// version (or the same one known current since later), or the cache is full of young
// entries; it reports whether it replaced the value. Under c.mu.
func (c *Cache[K, V]) keep(key K, v V, at time.Time) bool {
	old, ok := c.entries[key]
	if ok && c.version != nil {
		switch ov, nv := c.version(old.v), c.version(v); {
		case ov > nv:
			return false
		case ov == nv:
			if at.After(old.at) {
				c.entries[key] = entry[V]{v: old.v, at: at}
			}
			return false
		}
	}
	if !ok && len(c.entries) >= c.max && !c.sweep() {
		return false
	}
	c.entries[key] = entry[V]{v: v, at: at}
	return true
}

// sweep drops the expired entries, at most once per TTL, and reports whether there is room
// for one more. Under c.mu.
func (c *Cache[K, V]) sweep() bool {
	now := c.now()
	if now.Sub(c.lastSweep) >= c.ttl {
		c.lastSweep = now
		for k, e := range c.entries {
			if now.Sub(e.at) >= c.ttl {
				delete(c.entries, k)
			}
		}
	}
	return len(c.entries) < c.max
}

package cache

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ticketing/common/testkit"
)

type item struct {
	name    string
	version int64
}

// newItems is a cache of at most max items (0: no limit) with a TTL of a second and no
// background refresh, on a manual clock.
func newItems(max int) (*testkit.Clock, *Cache[string, item]) {
	clk := testkit.NewClock(time.Unix(1000, 0))
	return clk, New[string](testName(), Options[item]{TTL: time.Second, Refresh: time.Second, Max: max,
		Now: clk.Now, Version: func(i item) int64 { return i.version }})
}

// newRefreshing is newItems with the default background refresh (at half the TTL), no
// bound, and the panics of background loads not logged.
func newRefreshing() (*testkit.Clock, *Cache[string, item]) {
	clk := testkit.NewClock(time.Unix(1000, 0))
	return clk, New[string](testName(), Options[item]{TTL: time.Second, Now: clk.Now,
		Version: func(i item) int64 { return i.version }, Log: slog.New(slog.DiscardHandler)})
}

var names atomic.Int64

func testName() string { return "test" + string(rune('a'+names.Add(1)%26)) }

func value(v int64) func(context.Context) (item, error) {
	return func(context.Context) (item, error) { return item{"x", v}, nil }
}

// slowLoad starts a Get of key whose load has read v and returns once the load runs; the
// load ends when release is closed, and the Get's answer comes on done.
func slowLoad(c *Cache[string, item], key string, v item) (release chan struct{}, done chan item) {
	reading := make(chan struct{})
	release, done = make(chan struct{}), make(chan item)
	go func() {
		got, _ := c.Get(context.Background(), key, func(context.Context) (item, error) {
			close(reading)
			<-release
			return v, nil
		})
		done <- got
	}()
	<-reading
	return release, done
}

// wantVersion fails t with msg (formatted with the item got) unless a Get of key, loading
// with load on a miss, answers version want.
func wantVersion(t *testing.T, c *Cache[string, item], key string, load func(context.Context) (item, error), want int64, msg string) {
	t.Helper()
	if got := get(t, c, key, load); got.version != want {
		t.Fatalf(msg, got)
	}
}

func get(t *testing.T, c *Cache[string, item], key string, load func(context.Context) (item, error)) item {
	t.Helper()
	v, err := c.Get(t.Context(), key, load)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// An entry answers for the TTL, then the next Get loads; an error is not kept.
func TestTTL(t *testing.T) {
	clk, c := newItems(0)
	wantVersion(t, c, "k", value(1), 1, "first Get = %v")
	clk.Add(999 * time.Millisecond)
	wantVersion(t, c, "k", value(2), 1, "Get within the TTL = %v, want the entry (1)")
	clk.Add(time.Millisecond)
	wantVersion(t, c, "k", value(2), 2, "Get after the TTL = %v, want a load (2)")
	clk.Add(time.Second)
	boom := errors.New("boom")
	if _, err := c.Get(t.Context(), "k", func(context.Context) (item, error) { return item{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("failed load: %v", err)
	}
	wantVersion(t, c, "k", value(3), 3, "Get after a failed load = %v, want a load (3)")
}

// A read in the second half of an entry's life answers from the entry at once and reloads it
// in the background, once however many read meanwhile; the reload's value answers after it.
func TestRefresh(t *testing.T) {
	clk, c := newRefreshing()
	wantVersion(t, c, "k", value(1), 1, "first Get = %v")
	clk.Add(499 * time.Millisecond)
	wantVersion(t, c, "k", func(context.Context) (item, error) {
		t.Fatal("a young entry was reloaded")
		return item{}, nil
	}, 1, "Get before Refresh = %v, want the entry (1)")

	clk.Add(time.Millisecond)
	var loads atomic.Int64
	reading, release := make(chan struct{}), make(chan struct{})
	slow := func(context.Context) (item, error) {
		if loads.Add(1) == 1 {
			close(reading)
		}
		<-release
		return item{"x", 2}, nil
	}
	wantVersion(t, c, "k", slow, 1, "Get at Refresh = %v, want the entry (1) while it reloads")
	<-reading
	for range 10 {
		wantVersion(t, c, "k", slow, 1, "Get during the reload = %v, want the entry (1)")
	}
	close(release)
	// Once the first entry has expired, a reader gets the reload's value: from the entry
	// it made, or by waiting for it.
	clk.Add(500 * time.Millisecond)
	wantVersion(t, c, "k", value(3), 2, "Get after the reload = %v, want its value (2)")
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d reloads, want 1", n)
	}
}

// A background reload that fails or panics keeps the entry until its TTL, and the reader
// after that loads afresh; a panic is not raised in the process.
func TestRefreshFailure(t *testing.T) {
	for name, load := range map[string]func(context.Context) (item, error){
		"error": func(context.Context) (item, error) { return item{}, errors.New("store down") },
		"panic": func(context.Context) (item, error) { panic("load bug") },
	} {
		t.Run(name, func(t *testing.T) {
			clk, c := newRefreshing()
			wantVersion(t, c, "k", value(1), 1, "first Get = %v")
			clk.Add(600 * time.Millisecond)
			done := make(chan struct{})
			wantVersion(t, c, "k", func(ctx context.Context) (item, error) {
				defer close(done)
				return load(ctx)
			}, 1, "Get at Refresh = %v, want the entry (1)")
			<-done
			waitIdle(t, c)
			clk.Add(399 * time.Millisecond)
			wantVersion(t, c, "k", func(context.Context) (item, error) {
				return item{}, errors.New("still failing")
			}, 1, "Get before the TTL = %v, want the entry (1)")
			waitIdle(t, c)
			clk.Add(time.Second)
			wantVersion(t, c, "k", value(2), 2, "Get after the TTL = %v, want a load (2)")
		})
	}
}

// waitIdle waits until no load of c runs.
func waitIdle(t *testing.T, c *Cache[string, item]) {
	testkit.Eventually(t, 10*time.Second, "the loads to end", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.flights) == 0
	})
}

// A late or older value never rolls an entry back: not a Put of an older version, nor a
// load that read before a write and ends after it.
func TestVersionNeverRollsBack(t *testing.T) {
	clk, c := newItems(0)
	c.Put("k", item{"new", 5}, clk.Now())
	c.Put("k", item{"late", 3}, clk.Now())
	if got := get(t, c, "k", value(1)); got != (item{"new", 5}) {
		t.Fatalf("after a late Put: %v, want version 5", got)
	}

	// A load that read version 5, then a write puts 6 while the load runs: the load's
	// readers get the newer 6, and the entry keeps it.
	clk.Add(2 * time.Second)
	release, done := slowLoad(c, "k", item{"read before the write", 5})
	c.Put("k", item{"written", 6}, clk.Now())
	close(release)
	if got := <-done; got != (item{"written", 6}) {
		t.Fatalf("the load's reader got %v, want the newer 6", got)
	}
	if got := get(t, c, "k", value(1)); got != (item{"written", 6}) {
		t.Fatalf("entry after the load: %v, want the write's (6)", got)
	}

	// An expired entry still bounds the version: a load that reads an older one (a lagging
	// secondary) is not kept, its reader gets the newer entry, and the next Get loads again.
	clk.Add(2 * time.Second)
	wantVersion(t, c, "k", value(4), 6, "a load of an older version answered %v, want the entry's 6")
	wantVersion(t, c, "k", value(7), 7, "the older load was kept: %v, want a new load (7)")
}

// A Put that comes late, with a version older than a load running meanwhile read, does not
// make a reader go back: the load's newer value wins.
func TestLatePutDuringLoad(t *testing.T) {
	clk, c := newItems(0)
	c.Put("k", item{"first", 1}, clk.Now())
	clk.Add(2 * time.Second)
	release, done := slowLoad(c, "k", item{"third", 3})
	c.Put("k", item{"second, late", 2}, clk.Now())
	close(release)
	if got := <-done; got.version != 3 {
		t.Fatalf("the load answered %v, want 3", got)
	}
	wantVersion(t, c, "k", value(9), 3, "after the load: %v, want 3 (the late Put must not win)")
}

// Clear drops the entries and keeps no load that was running; the next reader loads afresh
// rather than waiting for the load that read before the write.
func TestClear(t *testing.T) {
	_, c := newItems(0)

	release, done := slowLoad(c, "c", item{"stale", 1})
	c.Clear()
	if c.Len() != 0 {
		t.Fatalf("%d entries after Clear", c.Len())
	}
	wantVersion(t, c, "c", value(2), 2, "a Get after Clear joined the load that ran before it: %v")
	close(release)
	<-done
	wantVersion(t, c, "c", value(3), 2, "the load that ran across Clear replaced the entry: %v")
}

// Beyond Max, expired entries are swept; a value that does not fit is returned, not kept.
func TestMax(t *testing.T) {
	clk, c := newItems(2)
	get(t, c, "a", value(1))
	get(t, c, "b", value(1))
	if got := get(t, c, "c", value(1)); got.version != 1 || c.Len() != 2 {
		t.Fatalf("c: %v, %d entries", got, c.Len())
	}
	wantVersion(t, c, "c", value(2), 2, "c was kept beyond Max: %v")
	clk.Add(2 * time.Second)
	get(t, c, "d", value(1))
	if c.Len() != 1 {
		t.Fatalf("%d entries after the sweep, want 1 (d)", c.Len())
	}
}

// A rush: 200 readers of one key at once cause one load, and all get its value.
func TestSingleFlight(t *testing.T) {
	c := New[string](testName(), Options[item]{TTL: time.Minute})
	var loads atomic.Int64
	release := make(chan struct{})
	var started, wg sync.WaitGroup
	const readers = 200
	got := make([]item, readers)
	for i := range readers {
		started.Add(1)
		wg.Go(func() {
			started.Done()
			v, err := c.Get(context.Background(), "page", func(context.Context) (item, error) {
				loads.Add(1)
				<-release
				return item{"page", 1}, nil
			})
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	started.Wait()
	close(release)
	wg.Wait()
	// Readers that arrived after the load ended hit the entry; none loads again.
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads for %d readers, want 1", n, readers)
	}
	for i, v := range got {
		if v != (item{"page", 1}) {
			t.Fatalf("reader %d got %v", i, v)
		}
	}
}

// A waiting reader whose context ends stops waiting; the load goes on for the others.
func TestWaiterCancelled(t *testing.T) {
	c := New[string](testName(), Options[item]{TTL: time.Minute})
	release, done := slowLoad(c, "k", item{"k", 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Get(ctx, "k", value(9)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	close(release)
	if got := <-done; got.version != 1 {
		t.Fatalf("load: %v", got)
	}
}

// Many readers and writers at once (run with -race): every reader sees the versions of a key
// in order, never one older than one it saw before; once the writers are done, a reader sees
// the last write at once; and the loads stay far fewer than the reads.
func TestConcurrentReadersAndWriters(t *testing.T) {
	c := New[string](testName(), Options[item]{TTL: 5 * time.Millisecond,
		Version: func(i item) int64 { return i.version }})
	var stored atomic.Int64 // the store: the current version
	var loads, reads atomic.Int64
	load := func(context.Context) (item, error) {
		loads.Add(1)
		return item{"k", stored.Load()}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	const writers, readers, writes = 4, 32, 500
	var wg, writing sync.WaitGroup
	for range writers {
		writing.Add(1)
		wg.Go(func() {
			defer writing.Done()
			for range writes {
				at := time.Now()
				c.Put("k", item{"k", stored.Add(1)}, at)
			}
		})
	}
	writersDone := make(chan struct{})
	go func() { writing.Wait(); close(writersDone) }()
	for range readers {
		wg.Go(func() {
			var last int64
			for {
				select {
				case <-writersDone:
					return
				default:
				}
				v, err := c.Get(ctx, "k", load)
				if err != nil {
					t.Error(err)
					return
				}
				reads.Add(1)
				if v.version < last {
					t.Errorf("a reader saw version %d after %d", v.version, last)
					return
				}
				last = v.version
			}
		})
	}
	wg.Wait()
	if got := get(t, c, "k", load); got.version != writers*writes {
		t.Fatalf("after the writes: version %d, want %d", got.version, writers*writes)
	}
	t.Logf("%d reads, %d loads", reads.Load(), loads.Load())
	if loads.Load() > reads.Load() {
		t.Fatalf("%d loads for %d reads", loads.Load(), reads.Load())
	}
}

package standin

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func connect(t *testing.T, uri string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

func TestServeAndClose(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := start(t, Options{Dir: dir})
	c := connect(t, s.URI())
	coll := c.Database("db").Collection("c")

	if _, err := coll.InsertOne(ctx, bson.M{"_id": 1, "v": "a"}); err != nil {
		t.Fatal(err)
	}
	// An unacknowledged write is flagged moreToCome: MongoDB does not reply,
	// FerretDB does, and the gate must drop that reply.
	w0 := c.Database("db", options.Database().SetWriteConcern(writeconcern.Unacknowledged())).Collection("c")
	if _, err := w0.InsertOne(ctx, bson.M{"_id": 2}); err != nil {
		t.Fatal(err)
	}
	if n, err := coll.CountDocuments(ctx, bson.M{}); err != nil || n != 2 {
		t.Fatalf("CountDocuments = %d, %v; want 2", n, err)
	}
	if err := c.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}

	ferretAddr := hostOf(t, s.ferretURI)
	gateAddr := hostOf(t, s.URI())
	s.Close()
	s.Close() // idempotent

	for _, addr := range []string{gateAddr, ferretAddr} {
		if ln, err := net.Listen("tcp", addr); err != nil {
			t.Errorf("port of %s not freed: %v", addr, err)
		} else {
			_ = ln.Close()
		}
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.sqlite")); len(files) == 0 {
		t.Errorf("no SQLite files kept in %s", dir)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	cycle := func() {
		s, err := Start(t.Context(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := mongo.Connect(options.Client().ApplyURI(s.URI()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Database("db").Collection("c").InsertOne(t.Context(), bson.M{"x": 1}); err != nil {
			t.Fatal(err)
		}
		// Close while the client is still connected, as a crashing test would.
		s.Close()
		_ = c.Disconnect(context.Background())
		if _, err := os.Stat(s.tempDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("temporary directory %s not removed: %v", s.tempDir, err)
		}
	}
	cycle() // starts what FerretDB and the driver keep for the process
	before := runtime.NumGoroutine()
	cycle()

	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s",
				runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// Without the gate, FerretDB lets several racing conditional updates win.
// The race depends on scheduling, so the test skips when it does not show.
func TestFerretDBAloneIsNotAtomic(t *testing.T) {
	ctx := t.Context()
	s := start(t, Options{})
	coll := connect(t, s.ferretURI).Database("db").Collection("c") // bypasses the gate
	if _, err := coll.InsertOne(ctx, bson.M{"_id": 1, "version": 0}); err != nil {
		t.Fatal(err)
	}
	for round := range 10 {
		var (
			wins  atomic.Int32
			wg    sync.WaitGroup
			start = make(chan struct{})
		)
		for range 50 {
			wg.Go(func() {
				<-start
				r, err := coll.UpdateOne(ctx, bson.M{"_id": 1, "version": round}, bson.M{"$set": bson.M{"version": round + 1}})
				if err == nil && r.ModifiedCount == 1 {
					wins.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := wins.Load(); n > 1 {
			t.Logf("round %d: %d of 50 conditional updates won without the gate", round, n)
			return
		}
	}
	t.Skip("the race did not show in 10 rounds")
}

func TestStartRejectsBadOptions(t *testing.T) {
	for _, opts := range []Options{
		{Backend: "mysql"},
		{Backend: BackendPostgreSQL},
	} {
		if s, err := Start(t.Context(), opts); err == nil {
			s.Close()
			t.Errorf("Start(%+v) succeeded, want an error", opts)
		}
	}
}

func TestFerretURL(t *testing.T) {
	const pcm = "plan_cache_mode=force_custom_plan"
	for in, want := range map[string]string{
		"postgres://u@h:5432/db":                    "postgres://u@h:5432/db?" + pcm + "&pool_max_conns=48",
		"postgres://u@h/db?pool_max_conns=7":        "postgres://u@h/db?" + pcm + "&pool_max_conns=7",
		"postgres://u@h/db?sslmode=require":         "postgres://u@h/db?" + pcm + "&pool_max_conns=48&sslmode=require",
		"postgres://u@h/db?pool_max_conns=7&x=y&z":  "postgres://u@h/db?" + pcm + "&pool_max_conns=7&x=y&z=",
		"postgres://u@127.0.0.1:5432/db":            "postgres://u@127.0.0.1:5432/db?" + pcm + "&pool_max_conns=48&sslmode=disable",
		"postgres://u@localhost/db?sslmode=require": "postgres://u@localhost/db?" + pcm + "&pool_max_conns=48&sslmode=require",
		"postgres://u@[::1]/db":                     "postgres://u@[::1]/db?" + pcm + "&pool_max_conns=48&sslmode=disable",
		"postgres://u@h/db?plan_cache_mode=auto":    "postgres://u@h/db?plan_cache_mode=auto&pool_max_conns=48",
	} {
		if got, err := ferretURL(in); err != nil || got != want {
			t.Errorf("ferretURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestReadMessage(t *testing.T) {
	msg := []byte{20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xdd, 0x07, 0, 0, 2, 0, 0, 0} // OP_MSG, moreToCome
	got, err := readMessage(strings.NewReader(string(msg) + "next"))
	if err != nil || string(got) != string(msg) {
		t.Fatalf("readMessage = %v, %v; want %v", got, err, msg)
	}
	if !moreToCome(got) {
		t.Error("moreToCome = false, want true")
	}
	if _, err := readMessage(strings.NewReader("\x0f\x00\x00\x00" + strings.Repeat("x", 20))); err == nil {
		t.Error("a 15-byte message length was accepted")
	}
	if _, err := readMessage(strings.NewReader(string(msg[:18]))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated message: err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func hostOf(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func TestInFlightLeavesEveryCommandASecondConnection(t *testing.T) {
	for pool, want := range map[int]int{48: 32, 200: 32, 24: 16, 10: 6, 2: 1, 1: 1} {
		got := inFlight(pool)
		if got != want || (pool > 1 && got+1 > pool) {
			t.Errorf("inFlight(%d) = %d, want %d (and at most pool-1)", pool, got, want)
		}
	}
	if n := poolMaxConns("postgres://h/db?pool_max_conns=24&x=1"); n != 24 {
		t.Errorf("poolMaxConns = %d, want 24", n)
	}
}

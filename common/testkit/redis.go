package testkit

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvRedisAddr names an external Redis server (host:port) for [Redis] to
// hand out databases of, instead of starting redis-server.
const EnvRedisAddr = "REDIS_ADDR"

// RedisServer is a Redis database that belongs to one test: database 0 of a
// redis-server started for it, or a leased database of the server at
// REDIS_ADDR. Give Addr and DB to go-redis or asynq.RedisClientOpt.
type RedisServer struct {
	Addr string // host:port
	DB   int    // database number

	t testing.TB

	// For a server of our own:
	bin, dir string
	conf     string   // a configuration file, first argument (Sentinel's, which it rewrites)
	extra    []string // arguments after the common ones
	child
}

// Redis returns a Redis database for t, empty at the start and flushed or
// stopped when t ends.
//
// Without REDIS_ADDR it starts redis-server from PATH on a free 127.0.0.1 port,
// keeping nothing on disk (--save "" --appendonly no), and kills it at the end.
//
// With REDIS_ADDR it leases one of the server's databases 1 to 15 (databases-1
// in general) for the test, across test binaries, through lease keys in
// database 0; database 0 itself is never handed out.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	if addr := os.Getenv(EnvRedisAddr); addr != "" {
		return leaseRedisDB(t, addr)
	}
	return startRedis(t)
}

// Options returns go-redis options for the database.
func (r *RedisServer) Options() *redis.Options {
	return &redis.Options{Addr: r.Addr, DB: r.DB}
}

// Client returns a go-redis client for the database, closed when t ends.
func (r *RedisServer) Client() *redis.Client {
	c := redis.NewClient(r.Options())
	r.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Flush empties the database (FLUSHDB), as if Redis had lost its data.
func (r *RedisServer) Flush() {
	r.t.Helper()
	if err := r.flush(); err != nil {
		r.t.Fatal(err)
	}
}

// Restart kills redis-server and starts it again on the same port, empty, as
// a crash of a Redis that keeps nothing on disk would: open connections
// break and clients must reconnect. A server at REDIS_ADDR is not the test's
// to restart: its database is flushed instead.
func (r *RedisServer) Restart() {
	r.t.Helper()
	if r.bin == "" {
		r.Flush()
		return
	}
	r.stop()
	if err := r.start(); err != nil {
		r.t.Fatal(err)
	}
}

// StartRedis starts a redis-server of t's own on a free 127.0.0.1 port, even when
// REDIS_ADDR names a shared server: for tests that stop and start it (see Stop and Start).
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	return startRedis(t)
}

// Stop kills the redis-server of t's own, and waits for it to exit: an outage, until Start.
func (r *RedisServer) Stop() {
	r.t.Helper()
	if r.bin == "" {
		r.t.Fatal("testkit: Stop needs a redis-server of the test's own (StartRedis)")
	}
	r.stop()
}

// Start starts the redis-server that Stop stopped, on the same port, empty.
func (r *RedisServer) Start() {
	r.t.Helper()
	if err := r.start(); err != nil {
		r.t.Fatal(err)
	}
}

func (r *RedisServer) flush() error {
	c := redis.NewClient(r.Options())
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("testkit: FLUSHDB on Redis db %d: %w", r.DB, err)
	}
	return nil
}

// startRedis starts a redis-server of t's own.
func startRedis(t testing.TB) *RedisServer {
	t.Helper()
	return startRedisWith(t, nil, nil)
}

// startRedisWith starts a redis-server of t's own on a free port, with a configuration
// file written by conf (given the port; nil for none) and extra arguments.
func startRedisWith(t testing.TB, conf func(port int) string, extra []string) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testkit: redis-server is needed on PATH, or set %s: %v", EnvRedisAddr, err)
	}
	r := &RedisServer{t: t, bin: bin, dir: t.TempDir(), extra: extra}
	for range 3 { // another process may take the free port first
		port := FreePort(t)
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if conf != nil {
			r.conf = filepath.Join(r.dir, "redis.conf")
			if err := os.WriteFile(r.conf, []byte(conf(port)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err = r.start(); err == nil {
			t.Cleanup(r.stop)
			return r
		}
	}
	t.Fatal(err)
	return nil
}

// start runs redis-server on r.Addr and waits until it answers.
func (r *RedisServer) start() error {
	_, port, _ := net.SplitHostPort(r.Addr)
	logPath := filepath.Join(r.dir, "redis.log")
	var args []string
	if r.conf != "" {
		args = append(args, r.conf)
	}
	args = append(args, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", r.dir)
	if err := r.child.start(r.bin, append(args, r.extra...), logPath); err != nil {
		return err
	}
	pid := r.cmd.Process.Pid

	c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		// The server INFO reports must be ours, not another that took the port.
		info, err := c.Info(ctx, "server").Result()
		if err == nil && strings.Contains(info, "\nprocess_id:"+strconv.Itoa(pid)+"\r\n") {
			return nil
		}
		select {
		case <-r.exited:
			log, _ := os.ReadFile(logPath)
			r.cmd = nil
			return fmt.Errorf("testkit: redis-server on %s exited: %s", r.Addr, lastLine(log))
		case <-ctx.Done():
			r.stop()
			return fmt.Errorf("testkit: redis-server on %s not ready: %v", r.Addr, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// stop kills the redis-server, if running, and waits for it to exit.
func (r *RedisServer) stop() { r.kill() }

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// leaseTTL bounds how long the lease of a test binary that died holds a database.
const leaseTTL = 10 * time.Minute

// releaseLease deletes a lease key only if it still holds our token.
var releaseLease = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// leaseRedisDB leases a database of the server at addr for t, flushed at the
// start and at the end.
func leaseRedisDB(t testing.TB, addr string) *RedisServer {
	t.Helper()
	admin := redis.NewClient(&redis.Options{Addr: addr}) // database 0 keeps the leases
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	databases := 16
	if cfg, err := admin.ConfigGet(ctx, "databases").Result(); err == nil {
		if n, err := strconv.Atoi(cfg["databases"]); err == nil {
			databases = n
		}
	}
	token := randomHex(8)
	for {
		for db := 1; db < databases; db++ {
			key := "testkit:redis-db-lease:" + strconv.Itoa(db)
			ok, err := admin.SetNX(ctx, key, token, leaseTTL).Result()
			if err != nil {
				_ = admin.Close()
				t.Fatalf("testkit: lease a database of Redis at %s: %v", addr, err)
			}
			if !ok {
				continue
			}
			r := &RedisServer{Addr: addr, DB: db, t: t}
			t.Cleanup(func() {
				if err := r.flush(); err != nil {
					t.Error(err)
				}
				_ = releaseLease.Run(context.Background(), admin, []string{key}, token).Err()
				_ = admin.Close()
			})
			r.Flush()
			return r
		}
		select {
		case <-ctx.Done():
			_ = admin.Close()
			t.Fatalf("testkit: all %d databases of Redis at %s stayed leased for a minute", databases-1, addr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"ticketing/common/authn"
)

// startNATS runs an embedded NATS server with JetStream storing in dir, on port (0: any).
func startNATS(dir string, port int) (*server.Server, error) {
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("nats: not ready after 10s")
	}
	return srv, nil
}

// howToStart is the hint of an error about an external NATS or Redis.
const howToStart = "`bash scripts/check-nats-redis.sh` says how to start NATS and Redis; `make dev` embeds both"

// checkNATS fails, before anything is built, unless a NATS server with JetStream answers at
// url.
func checkNATS(ctx context.Context, url string) error {
	nc, err := nats.Connect(url, nats.Name("devstack"), nats.Timeout(3*time.Second))
	if err != nil {
		return fmt.Errorf("no NATS server answers at %s (%v); %s", url, err, howToStart)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(cctx); err != nil {
		return fmt.Errorf("NATS at %s answers without JetStream (%v): start nats-server with -js; %s", url, err, howToStart)
	}
	return nil
}

// redisHandle is the Redis the stack uses, and how to stop it.
type redisHandle struct {
	addr  string
	db    int
	kind  string // "external", "redis-server", "miniredis"
	stop  func()
	flush func(context.Context) error
}

// startRedis uses addr when given; else a redis-server from PATH keeping its data in dir;
// else miniredis, whose keys are made to expire by advancing its clock as time passes.
func startRedis(ctx context.Context, addr string, db int, dir string) (*redisHandle, error) {
	flusher := func(addr string, db int) func(context.Context) error {
		return func(ctx context.Context) error {
			c := redis.NewClient(&redis.Options{Addr: addr, DB: db})
			defer c.Close()
			return c.FlushDB(ctx).Err()
		}
	}
	if addr != "" {
		c := redis.NewClient(&redis.Options{Addr: addr, DB: db})
		defer c.Close()
		if err := c.Ping(ctx).Err(); err != nil {
			return nil, fmt.Errorf("no Redis answers at %s (%w); %s", addr, err, howToStart)
		}
		return &redisHandle{addr: addr, db: db, kind: "external", stop: func() {}, flush: flusher(addr, db)}, nil
	}
	if bin, err := exec.LookPath("redis-server"); err == nil {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
			"--save", "5 1", "--appendonly", "no", "--logfile", filepath.Join(dir, "redis.log"))
		cmd.SysProcAttr = childAttr(syscall.SIGTERM) // stopped after the services; Redis saves on SIGTERM
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("redis-server: %w", err)
		}
		a := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		c := redis.NewClient(&redis.Options{Addr: a})
		defer c.Close()
		deadline := time.Now().Add(10 * time.Second)
		for c.Ping(ctx).Err() != nil {
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				return nil, errors.New("redis-server did not answer within 10s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		return &redisHandle{addr: a, kind: "redis-server", flush: flusher(a, 0), stop: func() {
			_ = cmd.Process.Signal(os.Interrupt) // redis saves on SIGINT
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
			}
		}}, nil
	}
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		return nil, fmt.Errorf("miniredis: %w", err)
	}
	tctx, cancel := context.WithCancel(context.Background())
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-tctx.Done():
				return
			case now := <-t.C:
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	return &redisHandle{addr: m.Addr(), kind: "miniredis", flush: flusher(m.Addr(), 0), stop: func() { cancel(); m.Close() }}, nil
}

// keys loads the JWT key pair kept in dir, making one on first start. The private key file
// is readable by its owner only; it is never part of the repository.
func keys(dir string) (privPEM, pubPEM string, err error) { return keyPair(dir, "jwt") }

// keyPair is the Ed25519 key pair <name>-private.pem and <name>-public.pem in dir, made on
// first use (the session tokens' "jwt", the queue passes' "queue").
func keyPair(dir, name string) (privPEM, pubPEM string, err error) {
	privPath, pubPath := filepath.Join(dir, name+"-private.pem"), filepath.Join(dir, name+"-public.pem")
	priv, err1 := os.ReadFile(privPath)
	pub, err2 := os.ReadFile(pubPath)
	if err1 == nil && err2 == nil {
		return string(priv), string(pub), nil
	}
	privPEM, pubPEM, err = authn.GenerateKey()
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(privPath, []byte(privPEM), 0o600); err != nil {
		return "", "", err
	}
	return privPEM, pubPEM, os.WriteFile(pubPath, []byte(pubPEM), 0o644)
}

// persisted returns the value kept in file, or stores and returns make() on first use.
func persisted(file string, make func() string) (string, error) {
	if b, err := os.ReadFile(file); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	v := make()
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return "", err
	}
	return v, os.WriteFile(file, []byte(v+"\n"), 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// claim checks that addr can be listened on, to fail early with a clear message.
func claim(addr, what string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: cannot listen on %s (is another dev stack or program using it? choose another with the flags): %w", what, addr, err)
	}
	return l.Close()
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// proc is one child process: a service replica or the spawned NATS server.
type proc struct {
	name        string
	replica     int
	addr        string // HTTP address ("" for NATS)
	metricsAddr string // its /metrics ("" for NATS)
	starts      atomic.Int32
	bin         string
	args        []string
	env         []string
	logPath     string
	cmd         *exec.Cmd
	exited      chan struct{}
}

func (p *proc) start() error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr(syscall.SIGKILL) // stopped by the stack, services before NATS
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd = cmd
	p.starts.Add(1)
	p.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(p.exited) }()
	return nil
}

// stop asks the process to shut down (SIGTERM) and kills it after 15 s.
func (p *proc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// kill ends the process at once (SIGKILL), as a crash would.
func (p *proc) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// waitReady polls the service's /readyz until it answers 200.
func (p *proc) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited during start; see %s", p.name, p.logPath)
		default:
		}
		if p.addr == "" {
			if c, err := net.DialTimeout("tcp", strings.TrimPrefix(p.args[len(p.args)-1], "nats://"), time.Second); err == nil {
				c.Close()
				return nil
			}
		} else if resp, err := client.Get("http://" + p.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s; see %s", p.name, timeout, p.logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// build compiles the services and the dev stack itself into dir.
func build(ctx context.Context, dir string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	targets := []string{"./infra/devstack"}
	for _, s := range Services {
		targets = append(targets, "./services/"+s+"/cmd/"+s)
	}
	for _, t := range targets {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, filepath.Base(t)), t)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", t, err, out)
		}
	}
	return nil
}

// repoRoot is the directory of go.work.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == "off" {
		return "", errors.New("multi-process mode builds the services: run it from inside the repository")
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// startProcesses builds the binaries and starts NATS (unless external), then every replica.
func (s *Stack) startProcesses(ctx context.Context) error {
	s.binDir = filepath.Join(s.opts.DataDir, "bin")
	fmt.Fprintf(os.Stderr, "devstack: building the services into %s (the first build takes a minute or two)...\n", s.binDir)
	began := time.Now()
	if err := build(ctx, s.binDir); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "devstack: built in %s\n", time.Since(began).Round(time.Second))
	logDir := filepath.Join(s.opts.DataDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	if s.NATSURL == "" {
		port, err := freePort()
		if err != nil {
			return err
		}
		url := "nats://127.0.0.1:" + strconv.Itoa(port)
		s.natsProc = &proc{name: "nats", bin: filepath.Join(s.binDir, "devstack"),
			args: []string{"-serve-nats", filepath.Join(s.opts.DataDir, "nats"), url},
			env:  os.Environ(), logPath: filepath.Join(logDir, "nats.log")}
		if err := s.natsProc.start(); err != nil {
			return err
		}
		if err := s.natsProc.waitReady(ctx, 20*time.Second); err != nil {
			return err
		}
		s.NATSURL = url
	}
	envs, err := s.serviceEnv()
	if err != nil {
		return err
	}
	for i, name := range Services {
		n := 1
		if name == "orders" || name == "tickets" {
			n = s.opts.Replicas
		}
		var addrs []string
		for r := range n {
			addr, err := s.addr(i, r)
			if err != nil {
				return err
			}
			metricsPort := s.opts.BasePort + 100 + i + 10*r
			if s.opts.BasePort == 0 {
				if metricsPort, err = freePort(); err != nil {
					return err
				}
			}
			metricsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(metricsPort))
			env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "HTTP_ADDR=" + addr, "METRICS_ADDR=" + metricsAddr}
			keys := make([]string, 0, len(envs[name]))
			for k := range envs[name] {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				env = append(env, k+"="+envs[name][k])
			}
			p := &proc{name: fmt.Sprintf("%s-%d", name, r), replica: r, addr: addr, metricsAddr: metricsAddr,
				bin: filepath.Join(s.binDir, name), env: env, logPath: filepath.Join(logDir, fmt.Sprintf("%s-%d.log", name, r))}
			if err := p.start(); err != nil {
				return err
			}
			s.mu.Lock()
			s.procs[name] = append(s.procs[name], p)
			s.mu.Unlock()
			addrs = append(addrs, addr)
		}
		for _, p := range s.procs[name] {
			if err := p.waitReady(ctx, 60*time.Second); err != nil {
				return err
			}
			s.log.Info("service ready", "service", p.name, "addr", p.addr, "log", p.logPath)
		}
		s.gw.set(name, addrs...)
	}
	return nil
}

func (s *Stack) replica(name string, r int) (*proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.procs[name]
	if r < 0 || r >= len(ps) {
		return nil, fmt.Errorf("no replica %d of %s (%w)", r, name, errSingle)
	}
	return ps[r], nil
}

// Replica is a running service process, for tests that look inside it.
type Replica struct {
	Service     string
	Index       int
	MetricsAddr string // host:port of its /metrics
	Starts      int    // 1, plus one per Restart: its counters count from its last start
}

// Replicas lists the service processes in multi-process mode (none in single-process mode,
// where metrics are off).
func (s *Stack) Replicas() []Replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Replica
	for _, name := range Services {
		for _, p := range s.procs[name] {
			out = append(out, Replica{Service: name, Index: p.replica, MetricsAddr: p.metricsAddr, Starts: int(p.starts.Load())})
		}
	}
	return out
}

// Kill ends replica r of a service with SIGKILL, as a crash would.
func (s *Stack) Kill(name string, r int) error {
	p, err := s.replica(name, r)
	if err != nil {
		return err
	}
	p.kill()
	return nil
}

// Restart starts replica r of a service again (after Kill) and waits until it is ready.
func (s *Stack) Restart(ctx context.Context, name string, r int) error {
	p, err := s.replica(name, r)
	if err != nil {
		return err
	}
	p.kill()
	if err := p.start(); err != nil {
		return err
	}
	return p.waitReady(ctx, 60*time.Second)
}

// RestartNATS stops the spawned NATS server and starts it again on the same port and store.
func (s *Stack) RestartNATS(ctx context.Context) error {
	if s.natsProc == nil {
		return fmt.Errorf("NATS is not spawned by this stack (%w)", errSingle)
	}
	s.natsProc.stop()
	if err := s.natsProc.start(); err != nil {
		return err
	}
	return s.natsProc.waitReady(ctx, 20*time.Second)
}

// serveNATS is the -serve-nats mode: an embedded NATS server as its own process.
func serveNATS(dir, url string) error {
	port, err := strconv.Atoi(url[strings.LastIndex(url, ":")+1:])
	if err != nil {
		return err
	}
	srv, err := startNATS(dir, port)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signalNotify(sig)
	<-sig
	srv.Shutdown()
	srv.WaitForShutdown()
	return nil
}

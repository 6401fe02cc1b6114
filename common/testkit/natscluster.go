package testkit

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSCluster is a JetStream cluster of nats-server processes on 127.0.0.1, killed when the
// test ends. The binary is built from the nats-server module version this module requires
// (once, into the user's cache), so that the cluster runs the same server as the embedded
// one.
type NATSCluster struct {
	t     testing.TB
	Nodes []*NATSNode
}

// NATSNode is one server of a [NATSCluster].
type NATSNode struct {
	Name    string
	URL     string // client URL
	bin     string
	args    []string
	logPath string
	child
}

var natsBuild struct {
	once sync.Once
	path string
	err  error
}

// natsServerBinary builds nats-server at the required version into the user's cache.
func natsServerBinary() (string, error) {
	natsBuild.once.Do(func() {
		version := ""
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, d := range bi.Deps {
				if d.Path == "github.com/nats-io/nats-server/v2" {
					version = d.Version
				}
			}
		}
		if version == "" { // test binaries carry no dependency list: ask the module
			out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/nats-io/nats-server/v2").Output()
			if err != nil {
				natsBuild.err = fmt.Errorf("testkit: the nats-server module's version: %v", err)
				return
			}
			version = strings.TrimSpace(string(out))
		}
		cache, err := os.UserCacheDir()
		if err != nil {
			natsBuild.err = err
			return
		}
		natsBuild.path = filepath.Join(cache, "ticketing-testkit", "nats-server-"+version)
		if _, err := os.Stat(natsBuild.path); err == nil {
			return
		}
		if err := os.MkdirAll(filepath.Dir(natsBuild.path), 0o755); err != nil {
			natsBuild.err = err
			return
		}
		// Built in the workspace of the test's package: the modules and versions it pins,
		// already in the module cache.
		tmp := natsBuild.path + ".tmp" + randomHex(4)
		cmd := exec.Command("go", "build", "-o", tmp, "github.com/nats-io/nats-server/v2")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			natsBuild.err = fmt.Errorf("testkit: go build nats-server %s: %v\n%s", version, err, out)
			return
		}
		natsBuild.err = os.Rename(tmp, natsBuild.path)
	})
	return natsBuild.path, natsBuild.err
}

// StartNATSCluster starts a JetStream cluster of n servers and waits until it has a meta
// leader. With n = 1 the server is a standalone one, the single-node setup.
func StartNATSCluster(t testing.TB, n int) *NATSCluster {
	t.Helper()
	bin, err := natsServerBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &NATSCluster{t: t}
	clientPorts, routePorts := make([]int, n), make([]int, n)
	for i := range n {
		clientPorts[i], routePorts[i] = FreePort(t), FreePort(t)
	}
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(p))
	}
	for i := range n {
		name := fmt.Sprintf("n%d", i)
		node := &NATSNode{Name: name, URL: "nats://127.0.0.1:" + strconv.Itoa(clientPorts[i]), bin: bin,
			logPath: filepath.Join(dir, name+".log"),
			args: []string{"-a", "127.0.0.1", "-p", strconv.Itoa(clientPorts[i]), "-n", name,
				"-js", "-sd", filepath.Join(dir, name)}}
		if n > 1 {
			node.args = append(node.args, "--cluster_name", "testkit", "--cluster", routes[i], "--routes", strings.Join(routes, ","))
		}
		if err := node.start(); err != nil {
			t.Fatal(err)
		}
		c.Nodes = append(c.Nodes, node)
	}
	t.Cleanup(func() {
		for _, node := range c.Nodes {
			node.Kill()
		}
		if t.Failed() {
			for _, node := range c.Nodes {
				if b, err := os.ReadFile(node.logPath); err == nil {
					lines := strings.Split(strings.TrimSpace(string(b)), "\n")
					t.Logf("---- nats %s (last 20 lines)\n%s", node.Name, strings.Join(lines[max(0, len(lines)-20):], "\n"))
				}
			}
		}
	})
	c.WaitReady(60 * time.Second)
	return c
}

// URL is the seed list of the cluster, as NATS_URL takes it.
func (c *NATSCluster) URL() string {
	var urls []string
	for _, n := range c.Nodes {
		urls = append(urls, n.URL)
	}
	return strings.Join(urls, ",")
}

func (n *NATSNode) start() error { return n.child.start(n.bin, n.args, n.logPath) }

// Kill ends the server with SIGKILL, as a crash would.
func (n *NATSNode) Kill() { n.kill() }

// Running reports whether the server was started and not killed.
func (n *NATSNode) Running() bool { return n.running() }

// Restart starts a killed server again on its ports and store.
func (c *NATSCluster) Restart(n *NATSNode) {
	c.t.Helper()
	if err := n.start(); err != nil {
		c.t.Fatal(err)
	}
}

// Node is the node named name.
func (c *NATSCluster) Node(name string) *NATSNode {
	if n := c.nodeNamed(name); n != nil {
		return n
	}
	c.t.Fatalf("testkit: no NATS node %q", name)
	return nil
}

func (c *NATSCluster) nodeNamed(name string) *NATSNode {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// js connects to the running servers.
func (c *NATSCluster) js() (*nats.Conn, jetstream.JetStream, error) {
	var urls []string
	for _, n := range c.Nodes {
		if n.Running() {
			urls = append(urls, n.URL)
		}
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Timeout(2*time.Second))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// WaitReady waits until every running server answers and JetStream has a meta leader.
func (c *NATSCluster) WaitReady(timeout time.Duration) {
	c.t.Helper()
	c.eventually(timeout, "NATS cluster with a JetStream meta leader", func(ctx context.Context) error {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			conn, err := net.DialTimeout("tcp", strings.TrimPrefix(n.URL, "nats://"), time.Second)
			if err != nil {
				return err
			}
			_ = conn.Close()
		}
		nc, js, err := c.js()
		if err != nil {
			return err
		}
		defer nc.Close()
		_, err = js.AccountInfo(ctx)
		return err
	})
}

// StreamLeader is the name of the node that leads stream.
func (c *NATSCluster) StreamLeader(stream string) string {
	c.t.Helper()
	var leader string
	c.eventually(30*time.Second, "a leader of stream "+stream, func(ctx context.Context) error {
		nc, js, err := c.js()
		if err != nil {
			return err
		}
		defer nc.Close()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		if s.CachedInfo().Cluster == nil || s.CachedInfo().Cluster.Leader == "" {
			return fmt.Errorf("no leader")
		}
		leader = s.CachedInfo().Cluster.Leader
		return nil
	})
	return leader
}

// WaitStreamsCurrent waits until every stream has a leader other than not (if given) and
// the replicas on running servers are current: with every server running, the cluster has
// healed.
func (c *NATSCluster) WaitStreamsCurrent(timeout time.Duration, not string, streams ...string) {
	c.t.Helper()
	c.eventually(timeout, "every stream led, its replicas current", func(ctx context.Context) error {
		nc, js, err := c.js()
		if err != nil {
			return err
		}
		defer nc.Close()
		for _, name := range streams {
			s, err := js.Stream(ctx, name)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			ci := s.CachedInfo().Cluster
			if len(c.Nodes) == 1 {
				continue // a standalone server: it answered
			}
			if ci == nil || ci.Leader == "" || ci.Leader == not {
				return fmt.Errorf("%s: leader %v", name, ci)
			}
			if len(ci.Replicas) != s.CachedInfo().Config.Replicas-1 {
				return fmt.Errorf("%s: %d peers", name, len(ci.Replicas))
			}
			for _, r := range ci.Replicas {
				if n := c.nodeNamed(r.Name); n != nil && !n.Running() {
					continue
				}
				if !r.Current || r.Offline {
					return fmt.Errorf("%s: replica %s not current", name, r.Name)
				}
			}
		}
		return nil
	})
}

func (c *NATSCluster) eventually(timeout time.Duration, what string, try func(context.Context) error) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := try(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("testkit: not within %s: %s: %v", timeout, what, err)
		}
		time.Sleep(200 * time.Millisecond) // polling the cluster's state
	}
}

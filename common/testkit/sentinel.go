package testkit

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the name under which [RedisSentinel]'s Sentinels know the primary.
const SentinelMaster = "testkit"

// RedisSentinel is a Redis primary, one replica and three Sentinels, all redis-server
// processes of the test's own (the Sentinels run `redis-server sentinel.conf --sentinel`,
// what Debian's redis-sentinel does), stopped when the test ends. Services reach it through
// REDIS_SENTINEL_ADDRS and REDIS_MASTER_NAME (see [RedisSentinel.Env]).
type RedisSentinel struct {
	t         testing.TB
	Nodes     [2]*RedisServer // the data nodes; which one is primary changes with failovers
	Sentinels []*RedisServer
}

// StartRedisSentinel starts the primary, its replica and the Sentinels, and waits until
// every Sentinel sees the primary and its replica.
func StartRedisSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	rs := &RedisSentinel{t: t}
	rs.Nodes[0] = startRedisWith(t, nil, nil)
	rs.Nodes[1] = startRedisWith(t, nil, []string{"--replicaof", "127.0.0.1", port(rs.Nodes[0].Addr)})
	for range 3 {
		conf := func(int) string {
			// Quick to notice (1 s) and to fail over (a 2-core machine may stall a second).
			return fmt.Sprintf("sentinel monitor %s 127.0.0.1 %s 2\n"+
				"sentinel down-after-milliseconds %[1]s 1000\n"+
				"sentinel failover-timeout %[1]s 5000\n"+
				"sentinel parallel-syncs %[1]s 1\n", SentinelMaster, port(rs.Nodes[0].Addr))
		}
		rs.Sentinels = append(rs.Sentinels, startRedisWith(t, conf, []string{"--sentinel"}))
	}
	rs.waitTopology(rs.Nodes[0].Addr, 30*time.Second)
	return rs
}

// SentinelAddrs are the Sentinels' host:port.
func (rs *RedisSentinel) SentinelAddrs() []string {
	var out []string
	for _, s := range rs.Sentinels {
		out = append(out, s.Addr)
	}
	return out
}

// Primary is the address the first Sentinel that answers gives for the primary.
func (rs *RedisSentinel) Primary() string {
	rs.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range rs.Sentinels {
		if !s.running() {
			continue
		}
		sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
		addr, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
		_ = sc.Close()
		if err == nil && len(addr) == 2 {
			return net.JoinHostPort(addr[0], addr[1])
		}
	}
	rs.t.Fatal("testkit: no Sentinel names the primary")
	return ""
}

// node is the data node at addr.
func (rs *RedisSentinel) node(addr string) *RedisServer {
	for _, n := range rs.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	rs.t.Fatalf("testkit: %s is no data node", addr)
	return nil
}

// Failover kills the primary (SIGKILL) and waits until the Sentinels promote the replica and
// it accepts writes. It returns the new primary's address.
func (rs *RedisSentinel) Failover(timeout time.Duration) string {
	rs.t.Helper()
	old := rs.Primary()
	rs.node(old).stop()
	deadline := time.Now().Add(timeout)
	for {
		if p := rs.Primary(); p != old && rs.writable(p) {
			return p
		}
		if time.Now().After(deadline) {
			rs.t.Fatalf("testkit: no failover from %s within %s", old, timeout)
		}
		time.Sleep(100 * time.Millisecond) // polling the Sentinels, which decide in their own time
	}
}

// Restore starts every stopped data node again as a replica of the current primary, on its
// old port, and waits until the Sentinels see it replicating.
func (rs *RedisSentinel) Restore(timeout time.Duration) {
	rs.t.Helper()
	primary := rs.Primary()
	for _, n := range rs.Nodes {
		if n.running() {
			continue
		}
		n.extra = []string{"--replicaof", "127.0.0.1", port(primary)}
		if err := n.start(); err != nil {
			rs.t.Fatal(err)
		}
	}
	rs.waitTopology(primary, timeout)
}

// waitTopology waits until the primary at addr accepts writes, has a replica in sync, and
// every running Sentinel names it.
func (rs *RedisSentinel) waitTopology(primary string, timeout time.Duration) {
	rs.t.Helper()
	deadline := time.Now().Add(timeout)
	for !rs.settled(primary) {
		if time.Now().After(deadline) {
			rs.t.Fatalf("testkit: Redis primary %s with a replica, named by every Sentinel, not within %s", primary, timeout)
		}
		time.Sleep(100 * time.Millisecond) // polling replication and the Sentinels' view
	}
}

func (rs *RedisSentinel) settled(primary string) bool {
	if !rs.writable(primary) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: primary})
	info, err := c.Info(ctx, "replication").Result()
	_ = c.Close()
	if err != nil || !strings.Contains(info, "\nconnected_slaves:1\r") {
		return false
	}
	for _, s := range rs.Sentinels {
		if !s.running() {
			continue
		}
		sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
		addr, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
		replicas, err2 := sc.Replicas(ctx, SentinelMaster).Result()
		_ = sc.Close()
		if err != nil || err2 != nil || len(addr) != 2 || net.JoinHostPort(addr[0], addr[1]) != primary || len(replicas) == 0 {
			return false
		}
	}
	return true
}

// writable reports whether addr is a primary that takes a write.
func (rs *RedisSentinel) writable(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	return c.Set(ctx, "testkit:sentinel:probe", "1", time.Minute).Err() == nil
}

// Env is the services' settings for this Redis.
func (rs *RedisSentinel) Env() map[string]string {
	return map[string]string{"REDIS_SENTINEL_ADDRS": strings.Join(rs.SentinelAddrs(), ","), "REDIS_MASTER_NAME": SentinelMaster}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

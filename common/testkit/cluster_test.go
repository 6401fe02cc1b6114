//go:build cluster

package testkit_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"ticketing/common/testkit"
)

// The harness itself: a stream of 3 replicas keeps its messages when its leader is killed,
// and a Redis write reaches the new primary after a Sentinel failover.
func TestNATSClusterSurvivesItsLeader(t *testing.T) {
	c := testkit.StartNATSCluster(t, 3)
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := js.Publish(ctx, "s.x", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	leader := c.StreamLeader("S")
	c.Node(leader).Kill()
	c.WaitStreamsCurrent(time.Minute, leader, "S") // the two left elect; the killed one is not current
	c.Restart(c.Node(leader))
	c.WaitStreamsCurrent(time.Minute, "", "S")
	s, err := js.Stream(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != 10 {
		t.Fatalf("%d messages after the leader's death, want 10", n)
	}
}

func TestRedisSentinelFailover(t *testing.T) {
	rs := testkit.StartRedisSentinel(t)
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: testkit.SentinelMaster, SentinelAddrs: rs.SentinelAddrs()})
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old := rs.Primary()
	if p := rs.Failover(time.Minute); p == old {
		t.Fatal("same primary")
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.Set(ctx, "k2", "v", 0).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("no write after the failover")
		}
		time.Sleep(100 * time.Millisecond) // the client finds the new primary through the Sentinels
	}
	rs.Restore(time.Minute)
}

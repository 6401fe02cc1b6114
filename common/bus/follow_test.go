package bus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/testkit"
)

// follower gathers the revocations one Follow hands over.
type follower struct {
	mu  sync.Mutex
	ids []string
}

func (f *follower) add(e events.SessionRevoked) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = append(f.ids, e.TokenID)
}

func (f *follower) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ids...)
}

func revoked(i int) events.SessionRevoked {
	return events.SessionRevoked{UserID: "u1", TokenID: fmt.Sprintf("j%d", i), ExpiresAt: time.Now().Add(time.Hour)}
}

// Every follower (every replica) gets every event, in order: those published before it
// started, all handed over by the time Follow returns, and those published after.
func TestFollowHandsEveryEventToEveryFollower(t *testing.T) {
	c := connect(t, testkit.NATS(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 5 {
		if err := bus.Publish(ctx, c, "", revoked(i)); err != nil {
			t.Fatal(err)
		}
	}
	var fs [2]follower
	for i := range fs {
		stop, err := bus.Follow(ctx, c, fs[i].add, quiet)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		if got := fs[i].seen(); len(got) != 5 {
			t.Fatalf("follower %d: %v when Follow returned, want the 5 published before", i, got)
		}
	}
	for i := 5; i < 8; i++ {
		if err := bus.Publish(ctx, c, "", revoked(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range fs {
		testkit.Eventually(t, 30*time.Second, "every event followed", func() bool { return len(fs[i].seen()) == 8 })
		for j, id := range fs[i].seen() {
			if id != fmt.Sprintf("j%d", j) {
				t.Errorf("follower %d: event %d is %s, out of order", i, j, id)
			}
		}
	}
}

// On an empty stream Follow returns at once.
func TestFollowEmptyStream(t *testing.T) {
	c := connect(t, testkit.NATS(t))
	start := time.Now()
	stop, err := bus.Follow(context.Background(), c, func(events.SessionRevoked) {}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Follow on an empty stream took %s", d)
	}
}

package bus_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/testkit"
)

// TestDeadLetterListReplay: a dead letter keeps the whole event and its reason, is listed
// and read back, and a replay delivers the event again and removes the dead letter.
func TestDeadLetterListReplay(t *testing.T) {
	c := connect(t, testkit.NATS(t))
	var broken atomic.Bool
	broken.Store(true)
	var handled atomic.Int32
	listen(t, c, func(ctx context.Context, e events.TicketCreated) error {
		if broken.Load() {
			return bus.Permanent(errors.New("bad rule"))
		}
		if e.ID == "t-dl" {
			handled.Add(1)
		}
		return nil
	}, bus.ListenOptions{Logger: quiet})
	ctx := t.Context()
	if err := bus.Publish(ctx, c, "evt-dl", ticket("t-dl")); err != nil {
		t.Fatal(err)
	}
	var list []bus.DeadLetter
	testkit.Eventually(t, 20*time.Second, "dead letter", func() bool {
		var err error
		list, err = c.DeadLetters(ctx, "")
		return err == nil && len(list) == 1
	})
	d := list[0]
	if d.Consumer != "test-ticket-created" || d.Subject != events.SubjectTicketCreated || d.EventID != "evt-dl" ||
		d.Reason != "bad rule" || d.Header.Get(bus.HeaderEventType) != events.SubjectTicketCreated {
		t.Fatalf("dead letter %+v", d)
	}
	if e, err := events.Decode[events.TicketCreated](d.Data); err != nil || e.ID != "t-dl" {
		t.Fatalf("dead letter payload %q: %v", d.Data, err)
	}
	if other, err := c.DeadLetters(ctx, "orders-order-created"); err != nil || len(other) != 0 {
		t.Fatalf("another consumer's dead letters: %v, %v", other, err)
	}
	if got, err := c.GetDeadLetter(ctx, d.Seq); err != nil || got.EventID != "evt-dl" {
		t.Fatalf("get %d: %+v, %v", d.Seq, got, err)
	}

	broken.Store(false)
	if _, err := c.ReplayDeadLetter(ctx, d.Seq); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "replayed event handled", func() bool { return handled.Load() == 1 })
	if list, err := c.DeadLetters(ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("after the replay: %v, %v", list, err)
	}
	if _, err := c.ReplayDeadLetter(ctx, d.Seq); !errors.Is(err, bus.ErrNoDeadLetter) {
		t.Fatalf("second replay: %v, want ErrNoDeadLetter", err)
	}
}

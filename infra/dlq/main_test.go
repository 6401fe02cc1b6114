package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/testkit"
)

// TestListShowReplay runs the command against a bus with one dead letter: list names it,
// show prints its reason and payload, replay hands it back to the consumer and empties the
// list.
func TestListShowReplay(t *testing.T) {
	url := testkit.NATS(t)
	ctx := t.Context()
	topo := events.Topology{Prefix: "dlqtest"}
	quiet := slog.New(slog.DiscardHandler)
	c, err := bus.Connect(ctx, url, t.Name(), topo, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	fixed := make(chan struct{})
	handled := make(chan string, 1)
	l, err := bus.Listen(ctx, c, "tickets", func(ctx context.Context, e events.OrderCreated) error {
		select {
		case <-fixed:
			handled <- e.ID
			return nil
		default:
			return bus.Permanent(errors.New("ticket missing"))
		}
	}, bus.ListenOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Stop(context.Background()) })
	if err := bus.Publish(ctx, c, "evt-o1", events.OrderCreated{ID: "o1", UserID: "u1", Status: events.OrderStatusCreated, Version: 0,
		ExpiresAt: time.Now().Add(time.Minute), Ticket: events.TicketRef{ID: "t1", PriceCents: 100}}); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		return map[string]string{"NATS_URL": url, "BUS_PREFIX": "dlqtest"}[k]
	}
	cmd := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, args, &out, env); err != nil {
			t.Fatalf("dlq %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	var list string
	testkit.Eventually(t, 20*time.Second, "the dead letter listed", func() bool {
		list = cmd("list")
		return strings.Contains(list, "1 dead letter(s)")
	})
	if !strings.Contains(list, "tickets-order-created") || !strings.Contains(list, "evt-o1") || !strings.Contains(list, "ticket missing") {
		t.Fatalf("list:\n%s", list)
	}
	if out := cmd("list", "-consumer", "orders-ticket-created"); !strings.Contains(out, "0 dead letter(s)") {
		t.Fatalf("list of another consumer:\n%s", out)
	}
	dls, err := c.DeadLetters(ctx, "")
	if err != nil || len(dls) != 1 {
		t.Fatal(dls, err)
	}
	seq := strconv.FormatUint(dls[0].Seq, 10)
	shown := cmd("show", seq)
	for _, want := range []string{"reason: ticket missing", "event id: evt-o1", `"id": "o1"`, "Event-Type: order.created"} {
		if !strings.Contains(shown, want) {
			t.Errorf("show lacks %q:\n%s", want, shown)
		}
	}
	close(fixed)
	if out := cmd("replay", "-all"); !strings.Contains(out, "replayed "+seq) {
		t.Fatalf("replay:\n%s", out)
	}
	select {
	case id := <-handled:
		if id != "o1" {
			t.Fatalf("replayed order %q", id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the replayed event was not handled")
	}
	if out := cmd("list"); !strings.Contains(out, "0 dead letter(s)") {
		t.Fatalf("list after the replay:\n%s", out)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"show", seq}, &out, env); !errors.Is(err, bus.ErrNoDeadLetter) {
		t.Fatalf("show of a replayed dead letter: %v", err)
	}
	if err := run(ctx, []string{"bogus"}, &out, env); err == nil {
		t.Fatal("an unknown command was accepted")
	}
}

func FuzzSequences(f *testing.F) {
	for _, s := range []string{"1", "0", "-3", "18446744073709551616", "12 13", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seqs, err := sequences(strings.Fields(s))
		if err != nil {
			return
		}
		for _, n := range seqs {
			if n == 0 {
				t.Fatalf("sequence 0 accepted from %q", s)
			}
		}
	})
}

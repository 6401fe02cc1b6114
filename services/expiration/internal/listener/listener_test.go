package listener_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"ticketing/common/events"

	"ticketing/services/expiration/internal/app"
	"ticketing/services/expiration/internal/expiry"
	"ticketing/services/expiration/internal/listener"
)

type fakeScheduler struct {
	scheduled []expiry.Job
	cancelled []string
	err       error
}

func (f *fakeScheduler) Schedule(_ context.Context, j expiry.Job) error {
	f.scheduled = append(f.scheduled, j)
	return f.err
}

func (f *fakeScheduler) Cancel(_ context.Context, id string) error {
	f.cancelled = append(f.cancelled, id)
	return f.err
}

func TestHandlers(t *testing.T) {
	ctx := context.Background()
	f := &fakeScheduler{}
	h := listener.New(app.New(f, nil, slog.New(slog.DiscardHandler)))
	at := time.Date(2030, 1, 1, 0, 15, 0, 0, time.UTC)
	if err := h.OrderCreated(ctx, events.OrderCreated{ID: "o1", ExpiresAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := h.OrderCancelled(ctx, events.OrderCancelled{ID: "o2"}); err != nil {
		t.Fatal(err)
	}
	if err := h.OrderCompleted(ctx, events.OrderCompleted{ID: "o3"}); err != nil {
		t.Fatal(err)
	}
	// A moved deadline (order.updated) is a job of its own, beside the order's first.
	moved := at.Add(5 * time.Minute)
	if err := h.OrderUpdated(ctx, events.OrderUpdated{ID: "o1", Version: 1, Status: events.OrderStatusAwaitingPayment, ExpiresAt: moved}); err != nil {
		t.Fatal(err)
	}
	if len(f.scheduled) != 2 || f.scheduled[0] != (expiry.Job{OrderID: "o1", ExpiresAt: at, TaskID: "o1"}) ||
		f.scheduled[1] != (expiry.Job{OrderID: "o1", ExpiresAt: moved, TaskID: "o1@1893457200000"}) {
		t.Errorf("scheduled %+v", f.scheduled)
	}
	if err := h.OrderUpdated(ctx, events.OrderUpdated{ID: "o6"}); !errors.Is(err, expiry.ErrInvalid) {
		t.Errorf("order.updated without a deadline: %v, want ErrInvalid", err)
	}
	if len(f.cancelled) != 2 || f.cancelled[0] != "o2" || f.cancelled[1] != "o3" {
		t.Errorf("cancelled %v", f.cancelled)
	}

	// A scheduler failure is retried by the bus (a plain error); an order.created that can
	// never be scheduled is not.
	f.err = errors.New("redis: connection refused")
	if err := h.OrderCreated(ctx, events.OrderCreated{ID: "o4", ExpiresAt: at}); !errors.Is(err, f.err) {
		t.Errorf("err = %v, want the scheduler's", err)
	}
	if err := h.OrderCreated(ctx, events.OrderCreated{ID: "o5"}); !errors.Is(err, expiry.ErrInvalid) {
		t.Errorf("err = %v, want ErrInvalid", err)
	}
}

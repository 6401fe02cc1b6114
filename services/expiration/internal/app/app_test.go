package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"ticketing/services/expiration/internal/app"
	"ticketing/services/expiration/internal/expiry"
	"ticketing/services/expiration/internal/store"
)

var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// recorder is an app.Publisher that records what it published and when.
type recorder struct {
	mu   sync.Mutex
	jobs []expiry.Job
	at   []time.Time
	err  error
}

func (r *recorder) publish(_ context.Context, j expiry.Job) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.jobs = append(r.jobs, j)
	r.at = append(r.at, time.Now())
	return nil
}

func task(t *testing.T, id string, at time.Time) *asynq.Task {
	t.Helper()
	j, err := expiry.NewJob(id, at)
	if err != nil {
		t.Fatal(err)
	}
	task, err := store.NewTask(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func TestRunEarlyWaitsUntilExpiresAt(t *testing.T) {
	r := &recorder{}
	w := store.Handler(app.New(nil, r.publish, quiet))
	at := time.Now().Add(300 * time.Millisecond)
	if err := w.ProcessTask(context.Background(), task(t, "o1", at)); err != nil {
		t.Fatal(err)
	}
	if len(r.jobs) != 1 || r.jobs[0].OrderID != "o1" {
		t.Fatalf("published %+v, want o1 once", r.jobs)
	}
	if r.at[0].Before(at) {
		t.Errorf("published %v before expiresAt", at.Sub(r.at[0]))
	}
}

func TestRunWhenDuePublishesAtOnce(t *testing.T) {
	r := &recorder{}
	w := store.Handler(app.New(nil, r.publish, quiet))
	start := time.Now()
	if err := w.ProcessTask(context.Background(), task(t, "o1", start.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if len(r.jobs) != 1 {
		t.Fatalf("published %d, want 1", len(r.jobs))
	}
	if d := r.at[0].Sub(start); d > 100*time.Millisecond {
		t.Errorf("published after %v, want at once", d)
	}
}

func TestRunFarTooEarlyIsPutBack(t *testing.T) {
	r := &recorder{}
	w := store.Handler(app.New(nil, r.publish, quiet))
	start := time.Now()
	err := w.ProcessTask(context.Background(), task(t, "o1", start.Add(time.Minute)))
	var early *expiry.TooEarlyError
	if !errors.As(err, &early) {
		t.Fatalf("err = %v, want TooEarlyError", err)
	}
	if early.Remaining < 59*time.Second || early.Remaining > time.Minute {
		t.Errorf("remaining %v, want about 1m", early.Remaining)
	}
	if expiry.IsFailure(err) {
		t.Error("a run that came too early counts as a failure")
	}
	if len(r.jobs) != 0 || time.Since(start) > 100*time.Millisecond {
		t.Errorf("published %d, returned after %v; want nothing, at once", len(r.jobs), time.Since(start))
	}
}

func TestFailedPublishFailsTheRun(t *testing.T) {
	cause := errors.New("nats: timeout")
	r := &recorder{err: cause}
	w := store.Handler(app.New(nil, r.publish, quiet))
	err := w.ProcessTask(context.Background(), task(t, "o1", time.Now()))
	if !errors.Is(err, cause) || !expiry.IsFailure(err) {
		t.Errorf("err = %v, want a failure wrapping %v", err, cause)
	}
}

func TestStopWhileWaitingPublishesNothing(t *testing.T) {
	r := &recorder{}
	w := store.Handler(app.New(nil, r.publish, quiet))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := w.ProcessTask(ctx, task(t, "o1", time.Now().Add(time.Second)))
	if !errors.Is(err, context.DeadlineExceeded) || len(r.jobs) != 0 {
		t.Errorf("err = %v, published %d; want the context's error and nothing", err, len(r.jobs))
	}
}

func TestInvalidTaskIsDropped(t *testing.T) {
	r := &recorder{}
	w := store.Handler(app.New(nil, r.publish, quiet))
	noID, _ := json.Marshal(map[string]any{"expiresAt": time.Now()})
	for name, tk := range map[string]*asynq.Task{
		"not JSON":        asynq.NewTask(expiry.TaskType, []byte("{")),
		"no order id":     asynq.NewTask(expiry.TaskType, noID),
		"other task type": asynq.NewTask("order:other", []byte(`{"orderId":"o1","expiresAt":"2030-01-01T00:00:00Z"}`)),
	} {
		if err := w.ProcessTask(context.Background(), tk); !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("%s: err = %v, want SkipRetry", name, err)
		}
	}
	if len(r.jobs) != 0 {
		t.Errorf("published %d", len(r.jobs))
	}
}

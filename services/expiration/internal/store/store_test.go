package store_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"ticketing/common/meta"
	"ticketing/common/testkit"

	"ticketing/services/expiration/internal/expiry"
	"ticketing/services/expiration/internal/store"
)

const q = "expiration"

var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

func setup(t *testing.T) (*store.Scheduler, redis.UniversalClient) {
	t.Helper()
	rs := testkit.Redis(t)
	rc := rs.Client()
	s := store.NewScheduler(rc, store.Options{Queue: q, Retention: 10 * time.Minute})
	return s, rc
}

// serve runs an asynq server on the queue with handler until the test ends.
func serve(t *testing.T, rc redis.UniversalClient, handler asynq.HandlerFunc) {
	t.Helper()
	srv := store.NewServer(rc, store.ServerOptions{Queue: q, Concurrency: 4, ShutdownTimeout: time.Second, Logger: quiet})
	if err := srv.Start(handler); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
}

func job(t *testing.T, id string, at time.Time) expiry.Job {
	t.Helper()
	j, err := expiry.NewJob(id, at)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func state(t *testing.T, s *store.Scheduler, id string) string {
	t.Helper()
	info, err := s.Task(id)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return "none"
	}
	if err != nil {
		t.Fatal(err)
	}
	return info.State.String()
}

func TestScheduleIsIdempotent(t *testing.T) {
	s, _ := setup(t)
	ctx := context.Background()
	at := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	for range 3 {
		if err := s.Schedule(ctx, job(t, "o1", at)); err != nil {
			t.Fatalf("Schedule: %v", err)
		}
	}
	// A redelivery with another expiresAt changes nothing either: the first one holds.
	if err := s.Schedule(ctx, job(t, "o1", at.Add(time.Minute))); err != nil {
		t.Fatalf("Schedule: %v", err)
	}
	c, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if c.Scheduled != 1 || c.Pending+c.Active+c.Retry+c.Archived+c.Completed != 0 {
		t.Errorf("counts %+v, want one scheduled task", c)
	}
	info, err := s.Task("o1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.DecodeTask(asynq.NewTask(info.Type, info.Payload))
	if err != nil {
		t.Fatal(err)
	}
	if got.OrderID != "o1" || !got.ExpiresAt.Equal(at) {
		t.Errorf("task holds %+v, want o1 at %v", got, at)
	}
	if want := time.Unix(at.Unix(), 0); !info.NextProcessAt.Equal(want) {
		t.Errorf("due %v, want %v (asynq keeps whole seconds)", info.NextProcessAt, want)
	}
	if info.MaxRetry != 25 || info.Retention != 10*time.Minute || info.Timeout != time.Minute {
		t.Errorf("task options max retry %d, retention %v, timeout %v", info.MaxRetry, info.Retention, info.Timeout)
	}
}

func TestFinishedTaskIsNotScheduledAgainWithinTheRetention(t *testing.T) {
	s, rc := setup(t)
	ctx := context.Background()
	var runs atomic.Int32
	serve(t, rc, func(context.Context, *asynq.Task) error { runs.Add(1); return nil })

	past := time.Now().Add(-time.Minute) // due already: runs at once
	if err := s.Schedule(ctx, job(t, "o1", past)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "task completed", func() bool { return state(t, s, "o1") == "completed" })
	if err := s.Schedule(ctx, job(t, "o1", past)); err != nil {
		t.Fatalf("Schedule of a finished task: %v, want success", err)
	}
	// Another task, scheduled after the duplicate, runs: once it did, the duplicate would have.
	if err := s.Schedule(ctx, job(t, "o2", past)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "second task completed", func() bool { return state(t, s, "o2") == "completed" })
	if n := runs.Load(); n != 2 {
		t.Errorf("%d runs, want 2 (o1 once, o2 once)", n)
	}
}

func TestCancel(t *testing.T) {
	s, rc := setup(t)
	ctx := context.Background()

	if err := s.Cancel(ctx, "never-seen"); err != nil {
		t.Errorf("Cancel before the queue exists: %v", err)
	}
	if err := s.Schedule(ctx, job(t, "o1", time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := s.Cancel(ctx, "o1"); err != nil {
		t.Errorf("Cancel of a scheduled task: %v", err)
	}
	if got := state(t, s, "o1"); got != "none" {
		t.Errorf("after Cancel the task is %s", got)
	}
	if err := s.Cancel(ctx, "o1"); err != nil {
		t.Errorf("second Cancel: %v", err)
	}
	if err := s.Cancel(ctx, "never-seen"); err != nil {
		t.Errorf("Cancel of an unknown task: %v", err)
	}

	// A running task cannot be deleted: Cancel succeeds and leaves it to finish.
	release := make(chan struct{})
	var once sync.Once
	stop := func() { once.Do(func() { close(release) }) }
	t.Cleanup(stop)
	serve(t, rc, func(ctx context.Context, _ *asynq.Task) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	if err := s.Schedule(ctx, job(t, "o2", time.Now().Add(-time.Second))); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "task active", func() bool { return state(t, s, "o2") == "active" })
	if err := s.Cancel(ctx, "o2"); err != nil {
		t.Errorf("Cancel of an active task: %v", err)
	}
	stop()
	testkit.Eventually(t, 5*time.Second, "task completed", func() bool { return state(t, s, "o2") == "completed" })
}

func TestCounts(t *testing.T) {
	s, rc := setup(t)
	ctx := context.Background()
	c, err := s.Counts()
	if err != nil || c.Scheduled+c.Pending+c.Active+c.Retry+c.Archived+c.Completed != 0 {
		t.Fatalf("Counts of an unused queue = %+v, %v; want zeros", c, err)
	}
	for _, id := range []string{"a", "b"} {
		if err := s.Schedule(ctx, job(t, id, time.Now().Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	serve(t, rc, func(_ context.Context, task *asynq.Task) error {
		j, _ := store.DecodeTask(task)
		switch j.OrderID {
		case "dead":
			return asynq.SkipRetry
		case "failing":
			return errors.New("publish failed")
		}
		return nil
	})
	for _, id := range []string{"dead", "failing", "done"} {
		if err := s.Schedule(ctx, job(t, id, time.Now().Add(-time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	want := store.Counts{Scheduled: 2, Retry: 1, Archived: 1, Completed: 1}
	testkit.Eventually(t, 5*time.Second, "counts by state", func() bool {
		c, err = s.Counts()
		c.At = time.Time{}
		return err == nil && c == want
	})

	m := store.NewMonitor(s)
	if _, ok := m.Last(); ok {
		t.Error("Last before any count")
	}
	if err := m.Update(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, ok := m.Last(); !ok || got.Scheduled != 2 || got.At.IsZero() {
		t.Errorf("Last = %+v, %v", got, ok)
	}
}

func TestServerRetriesFailuresAndPutsBackEarlyRuns(t *testing.T) {
	s, rc := setup(t)
	ctx := context.Background()
	var mu sync.Mutex
	runs := map[string][]time.Time{}
	serve(t, rc, func(_ context.Context, task *asynq.Task) error {
		j, _ := store.DecodeTask(task)
		mu.Lock()
		defer mu.Unlock()
		runs[j.OrderID] = append(runs[j.OrderID], time.Now())
		if len(runs[j.OrderID]) > 1 {
			return nil
		}
		if j.OrderID == "early" {
			return &expiry.TooEarlyError{Remaining: 2 * time.Second}
		}
		return errors.New("publish failed")
	})
	for _, id := range []string{"failing", "early"} {
		if err := s.Schedule(ctx, job(t, id, time.Now().Add(-time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 10*time.Second, "both completed", func() bool {
		return state(t, s, "failing") == "completed" && state(t, s, "early") == "completed"
	})
	mu.Lock()
	defer mu.Unlock()
	for id, minGap := range map[string]time.Duration{"failing": 0, "early": time.Second} {
		if len(runs[id]) != 2 {
			t.Fatalf("%s ran %d times, want 2", id, len(runs[id]))
		}
		// Delays are kept in whole seconds: 1s backoff can run at once, 2s at least 1s later.
		if gap := runs[id][1].Sub(runs[id][0]); gap < minGap {
			t.Errorf("%s ran again after %v, want at least %v", id, gap, minGap)
		}
	}
	for id, want := range map[string]int{"failing": 1, "early": 0} {
		info, err := s.Task(id)
		if err != nil {
			t.Fatal(err)
		}
		if info.Retried != want {
			t.Errorf("%s counted %d failures, want %d", id, info.Retried, want)
		}
	}
}

// The task keeps the request id and trace of the event that scheduled it, so that the
// expiry's expiration.completed continues the order's trace.
func TestTaskCarriesTheRequestAndTrace(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := meta.WithTraceParent(meta.WithRequestID(context.Background(), "req-7"), tp)
	task, err := store.NewTask(ctx, job(t, "o1", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	got := store.TaskContext(context.Background(), asynq.NewTask(task.Type(), task.Payload()))
	if meta.RequestID(got) != "req-7" || meta.TraceParent(got) != tp {
		t.Fatalf("request id %q, traceparent %q", meta.RequestID(got), meta.TraceParent(got))
	}
	plain, err := store.NewTask(context.Background(), job(t, "o2", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if got := store.TaskContext(context.Background(), plain); meta.RequestID(got) != "" || meta.TraceID(got) != "" {
		t.Fatalf("a task scheduled without a request has request id %q, trace %q", meta.RequestID(got), meta.TraceID(got))
	}
}

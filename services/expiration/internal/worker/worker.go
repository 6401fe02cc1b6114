// Package worker runs an order's expiry job: it waits until the order's expiresAt, then
// publishes expiration.completed.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"ticketing/services/expiration/internal/expiry"
	"ticketing/services/expiration/internal/queue"
)

var (
	latenessSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "ticketing_expiration_lateness_seconds",
		Help:    "Time from an order's expiresAt to JetStream's acknowledgement of its expiration.completed.",
		Buckets: []float64{.005, .01, .025, .05, .1, .2, .3, .5, .75, 1, 1.5, 2, 5, 10, 30, 60, 300},
	})
	runsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "ticketing_expiration_runs_total",
		Help: "Runs of expiry jobs by outcome: published, too_early (put back until due), failed (retried), invalid (dropped).",
	}, []string{"outcome"})
)

// Publisher publishes the expiration.completed of job, with job.EventID() as its event id.
type Publisher func(ctx context.Context, job expiry.Job) error

// Worker is the asynq handler of order:expire tasks.
type Worker struct {
	publish Publisher
	log     *slog.Logger
	now     func() time.Time
}

// New is a worker that publishes with publish.
func New(publish Publisher, log *slog.Logger) *Worker {
	return &Worker{publish: publish, log: log, now: time.Now}
}

// ProcessTask runs one job. It never publishes before the job's ExpiresAt: a run that starts
// up to expiry.MaxEarlyWait early (asynq keeps due times in whole seconds) waits in place, an
// earlier one is put back until due. A failed publish returns its error, and asynq retries
// the job with backoff; JetStream drops a second publish of the same event id.
func (w *Worker) ProcessTask(ctx context.Context, t *asynq.Task) error {
	ctx = queue.TaskContext(ctx, t) // the order's request id and trace
	job, err := queue.DecodeTask(t)
	if err != nil {
		runsTotal.WithLabelValues("invalid").Inc()
		w.log.ErrorContext(ctx, "dropping an expiry task that cannot run", "type", t.Type(), "err", err)
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	if wait := job.Remaining(w.now()); wait > 0 {
		if wait > expiry.MaxEarlyWait {
			runsTotal.WithLabelValues("too_early").Inc()
			return &expiry.TooEarlyError{Remaining: wait}
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
	if err := w.publish(ctx, job); err != nil {
		runsTotal.WithLabelValues("failed").Inc()
		return fmt.Errorf("publish expiration of order %s: %w", job.OrderID, err)
	}
	late := job.Lateness(w.now())
	latenessSeconds.Observe(late.Seconds())
	runsTotal.WithLabelValues("published").Inc()
	w.log.DebugContext(ctx, "order expired", "order_id", job.OrderID, "lateness_ms", late.Milliseconds())
	return nil
}

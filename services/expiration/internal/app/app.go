// Package app runs the expiration workflows: schedule an order's expiry job when the order
// is created (and again when its deadline moves), drop it when the order is cancelled or paid, and fire it when it falls due:
// wait out the last moment before the order's expiresAt (never publish early), then publish
// expiration.completed. The rules of a job are the expiry domain's.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"ticketing/services/expiration/internal/expiry"
)

// Jobs keeps the expiry jobs (the store). Both methods are idempotent.
type Jobs interface {
	Schedule(ctx context.Context, job expiry.Job) error
	Cancel(ctx context.Context, orderID string) error
}

// Publisher publishes the expiration.completed of job, with job.EventID() as its event id.
type Publisher func(ctx context.Context, job expiry.Job) error

// Service runs the workflows.
type Service struct {
	jobs    Jobs
	publish Publisher
	log     *slog.Logger
	now     func() time.Time
}

// New is the Service that keeps jobs in jobs and publishes with publish.
func New(jobs Jobs, publish Publisher, log *slog.Logger) *Service {
	return &Service{jobs: jobs, publish: publish, log: log, now: time.Now}
}

// Schedule schedules the expiry of order orderID at expiresAt. Scheduling it again schedules
// nothing more: the order id is the job's id. Errors: expiry.ErrInvalid for a job that can
// never run.
func (s *Service) Schedule(ctx context.Context, orderID string, expiresAt time.Time) error {
	job, err := expiry.NewJob(orderID, expiresAt)
	if err != nil {
		return err
	}
	return s.jobs.Schedule(ctx, job)
}

// Reschedule schedules the expiry of order orderID at its new deadline expiresAt (the order
// waits for a payment, or a payment failed), as a job of its own: the order's earlier job
// fires for a deadline it no longer has, and the orders service drops it. Again for the
// same deadline schedules nothing more.
func (s *Service) Reschedule(ctx context.Context, orderID string, expiresAt time.Time) error {
	job, err := expiry.NewJob(orderID, expiresAt)
	if err != nil {
		return err
	}
	return s.jobs.Schedule(ctx, job.Rescheduled())
}

// Cancel drops the expiry of order orderID: it was cancelled or paid.
func (s *Service) Cancel(ctx context.Context, orderID string) error {
	return s.jobs.Cancel(ctx, orderID)
}

// Fire runs one job. It never publishes before the job's ExpiresAt: a run that starts up to
// expiry.MaxEarlyWait early (asynq keeps due times in whole seconds) waits in place, an
// earlier one is put back until due (*expiry.TooEarlyError). A failed publish returns its
// error, and the job is retried with backoff; JetStream drops a second publish of the same
// event id.
func (s *Service) Fire(ctx context.Context, job expiry.Job) error {
	if wait := job.Remaining(s.now()); wait > 0 {
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
	if err := s.publish(ctx, job); err != nil {
		runsTotal.WithLabelValues("failed").Inc()
		return fmt.Errorf("publish expiration of order %s: %w", job.OrderID, err)
	}
	late := job.Lateness(s.now())
	latenessSeconds.Observe(late.Seconds())
	runsTotal.WithLabelValues("published").Inc()
	s.log.DebugContext(ctx, "order expired", "order_id", job.OrderID, "lateness_ms", late.Milliseconds())
	return nil
}

// Drop records a job that can never run.
func (s *Service) Drop(ctx context.Context, taskType string, err error) {
	runsTotal.WithLabelValues("invalid").Inc()
	s.log.ErrorContext(ctx, "dropping an expiry task that cannot run", "type", taskType, "err", err)
}

package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"ticketing/services/expiration/internal/expiry"
)

// Options are the settings of the expiry queue.
type Options struct {
	Queue     string        // asynq queue name
	Retention time.Duration // how long a finished task keeps its id, refusing a late duplicate
	MaxRetry  int           // failed runs before a task is archived (dead); 25 by default
	Timeout   time.Duration // longest run of one task; 1 minute by default
}

func (o *Options) defaults() {
	if o.MaxRetry <= 0 {
		o.MaxRetry = 25
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
}

// Scheduler schedules and cancels expiry jobs. Both are idempotent.
type Scheduler struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	opts      Options
}

// NewScheduler uses rc, which the caller owns and closes; the scheduler holds nothing else.
func NewScheduler(rc redis.UniversalClient, opts Options) *Scheduler {
	opts.defaults()
	return &Scheduler{
		client:    asynq.NewClientFromRedisClient(rc),
		inspector: asynq.NewInspectorFromRedisClient(rc),
		opts:      opts,
	}
}

// Schedule makes job fire at its ExpiresAt (at once when that has passed). job.TaskID (the
// order id, or the order id and deadline of a rescheduled job) is the task id, so a job
// already scheduled, running, finished within the retention, or dead is not scheduled
// again: that is a success.
func (s *Scheduler) Schedule(ctx context.Context, job expiry.Job) error {
	task, err := NewTask(ctx, job)
	if err != nil {
		return err
	}
	_, err = s.client.EnqueueContext(ctx, task,
		asynq.TaskID(cmp.Or(job.TaskID, job.OrderID)),
		asynq.Queue(s.opts.Queue),
		asynq.ProcessAt(job.ExpiresAt),
		asynq.Retention(s.opts.Retention),
		asynq.MaxRetry(s.opts.MaxRetry),
		asynq.Timeout(s.opts.Timeout),
	)
	switch {
	case err == nil:
		scheduledTotal.WithLabelValues("scheduled").Inc()
		return nil
	case errors.Is(err, asynq.ErrTaskIDConflict):
		scheduledTotal.WithLabelValues("duplicate").Inc()
		return nil
	default:
		return fmt.Errorf("schedule expiry of order %s: %w", job.OrderID, err)
	}
}

// Cancel deletes the job of an order so that it never fires. A job that does not exist (never
// scheduled, or already gone) is a success, and so is one that is running right now: asynq
// cannot delete an active task, and the order service ignores an expiry of a settled order.
//
// The jobs of deadlines that moved (expiry.Job.Rescheduled) are left to fire: the order
// service ignores an expiry of a settled order.
//
// Cancel also deletes a finished job kept for the retention, so a later redelivery of the
// order's order.created would schedule it again; that job fires for a settled order and is
// ignored in the same way.
func (s *Scheduler) Cancel(ctx context.Context, orderID string) error {
	err := s.inspector.DeleteTask(s.opts.Queue, orderID)
	switch {
	case err == nil:
		cancelledTotal.WithLabelValues("deleted").Inc()
		return nil
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		cancelledTotal.WithLabelValues("not_found").Inc()
		return nil
	}
	// asynq reports an active task with an unexported error: look at the task's state.
	info, infoErr := s.inspector.GetTaskInfo(s.opts.Queue, orderID)
	switch {
	case infoErr == nil && info.State == asynq.TaskStateActive:
		cancelledTotal.WithLabelValues("active").Inc()
		return nil
	case errors.Is(infoErr, asynq.ErrTaskNotFound):
		// Finished and removed between the two calls.
		cancelledTotal.WithLabelValues("not_found").Inc()
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("cancel expiry of order %s: %w", orderID, err)
}

// Counts is how many tasks of the queue are in each state.
type Counts struct {
	Scheduled int       `json:"scheduled"` // waiting for their due time
	Pending   int       `json:"pending"`   // due, waiting for a worker
	Active    int       `json:"active"`    // running
	Retry     int       `json:"retry"`     // failed, waiting for their next run
	Archived  int       `json:"archived"`  // dead: retries exhausted or never runnable
	Completed int       `json:"completed"` // done, kept for the retention
	At        time.Time `json:"at"`        // when they were counted
}

// Counts counts the queue's tasks; a queue that never had a task counts zero.
func (s *Scheduler) Counts() (Counts, error) {
	info, err := s.inspector.GetQueueInfo(s.opts.Queue)
	if err != nil {
		// asynq does not wrap "queue not found" here: look for the queue.
		if queues, qerr := s.inspector.Queues(); qerr == nil && !slices.Contains(queues, s.opts.Queue) {
			return Counts{At: time.Now().UTC()}, nil
		}
		return Counts{}, fmt.Errorf("count tasks of queue %s: %w", s.opts.Queue, err)
	}
	return Counts{
		Scheduled: info.Scheduled,
		Pending:   info.Pending,
		Active:    info.Active,
		Retry:     info.Retry,
		Archived:  info.Archived,
		Completed: info.Completed,
		At:        info.Timestamp.UTC(),
	}, nil
}

// Task returns the state of an order's job, or asynq.ErrTaskNotFound.
func (s *Scheduler) Task(orderID string) (*asynq.TaskInfo, error) {
	return s.inspector.GetTaskInfo(s.opts.Queue, orderID)
}

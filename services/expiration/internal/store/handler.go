package store

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"

	"ticketing/services/expiration/internal/expiry"
)

// Runner is what runs the jobs that fall due: the application.
type Runner interface {
	// Fire runs a job that is due (or about to be).
	Fire(ctx context.Context, job expiry.Job) error
	// Drop records a task that can never run.
	Drop(ctx context.Context, taskType string, err error)
}

// Handler is the asynq handler of order:expire tasks: it decodes each task, with the request
// id and trace of the event that scheduled it, and hands the job to r. A task that cannot
// be decoded is dropped, never retried.
func Handler(r Runner) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		ctx = TaskContext(ctx, t)
		job, err := DecodeTask(t)
		if err != nil {
			r.Drop(ctx, t.Type(), err)
			return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
		}
		return r.Fire(ctx, job)
	})
}

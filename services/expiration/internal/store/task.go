// Package store keeps the expiry jobs in Redis with asynq: it schedules and cancels them,
// runs them when due (Handler hands each to the application), and reports how many are in
// each state.
package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"ticketing/common/meta"
	"ticketing/services/expiration/internal/expiry"
)

// payload is the JSON body of an order:expire task. The request id and trace of the event
// that scheduled it go along, so that the expiry continues the order's trace.
type payload struct {
	OrderID     string    `json:"orderId"`
	ExpiresAt   time.Time `json:"expiresAt"`
	TaskID      string    `json:"taskId,omitempty"`
	RequestID   string    `json:"requestId,omitempty"`
	TraceParent string    `json:"traceparent,omitempty"`
}

// NewTask is the asynq task of job, scheduled from ctx.
func NewTask(ctx context.Context, job expiry.Job) (*asynq.Task, error) {
	data, err := json.Marshal(payload{OrderID: job.OrderID, ExpiresAt: job.ExpiresAt, TaskID: job.TaskID,
		RequestID: meta.RequestID(ctx), TraceParent: meta.TraceParent(ctx)})
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(expiry.TaskType, data), nil
}

// DecodeTask is the job of an order:expire task.
func DecodeTask(t *asynq.Task) (expiry.Job, error) {
	if t.Type() != expiry.TaskType {
		return expiry.Job{}, fmt.Errorf("%w: task type %q", expiry.ErrInvalid, t.Type())
	}
	var p payload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return expiry.Job{}, fmt.Errorf("%w: %v", expiry.ErrInvalid, err)
	}
	job, err := expiry.NewJob(p.OrderID, p.ExpiresAt)
	if err == nil && p.TaskID != "" {
		job.TaskID = p.TaskID
	}
	return job, err
}

// TaskContext is ctx with the request id and trace of the context that scheduled t.
func TaskContext(ctx context.Context, t *asynq.Task) context.Context {
	var p payload
	if json.Unmarshal(t.Payload(), &p) != nil {
		return ctx
	}
	if meta.SafeRequestID(p.RequestID) {
		ctx = meta.WithRequestID(ctx, p.RequestID)
	}
	return meta.WithTraceParent(ctx, p.TraceParent)
}

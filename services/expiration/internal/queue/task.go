// Package queue keeps the expiry jobs in Redis with asynq: it schedules and cancels them,
// runs them, and reports how many are in each state.
package queue

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"ticketing/services/expiration/internal/expiry"
)

// payload is the JSON body of an order:expire task.
type payload struct {
	OrderID   string    `json:"orderId"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// NewTask is the asynq task of job.
func NewTask(job expiry.Job) (*asynq.Task, error) {
	data, err := json.Marshal(payload{OrderID: job.OrderID, ExpiresAt: job.ExpiresAt})
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
	return expiry.NewJob(p.OrderID, p.ExpiresAt)
}

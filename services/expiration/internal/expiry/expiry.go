// Package expiry holds the rules of an order's expiry job: what a job is, when it may fire,
// and how a failed or early run is retried. It imports no driver.
package expiry

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// TaskType is the asynq task type of an order's expiry.
const TaskType = "order:expire"

// MaxEarlyWait is how long a run that starts before its order's expiresAt waits in place.
// asynq keeps due times in whole seconds, so a run normally starts at most one second early;
// a run earlier than this (clock skew, a manual "run now") is put back until it is due.
const MaxEarlyWait = 2 * time.Second

// Retry backoff of a failed run (a publish that JetStream did not acknowledge). asynq keeps
// retry times in whole seconds, so the first step is one second.
const (
	FirstRetryDelay = time.Second
	MaxRetryDelay   = 30 * time.Second
)

// ErrInvalid marks a job that can never run.
var ErrInvalid = errors.New("invalid expiry job")

// Job is the expiry of one order: at ExpiresAt, expiration.completed is published for it.
type Job struct {
	OrderID   string
	ExpiresAt time.Time
	// TaskID is the id of the job's task: the order id for the order's first deadline (so
	// that a redelivered order.created schedules nothing more), the order id and the
	// deadline for a deadline that moved (Rescheduled).
	TaskID string
}

// NewJob checks and builds the job of an order.
func NewJob(orderID string, expiresAt time.Time) (Job, error) {
	switch {
	case orderID == "":
		return Job{}, fmt.Errorf("%w: order id is empty", ErrInvalid)
	case expiresAt.IsZero():
		return Job{}, fmt.Errorf("%w: expiresAt is missing", ErrInvalid)
	}
	return Job{OrderID: orderID, ExpiresAt: expiresAt.UTC(), TaskID: orderID}, nil
}

// Rescheduled is j as the job of an order whose deadline moved (order.updated): its own task,
// one per deadline, beside the order's first one (which fires for a deadline the order no
// longer has, and the orders service drops it).
func (j Job) Rescheduled() Job {
	j.TaskID = j.OrderID + "@" + strconv.FormatInt(j.ExpiresAt.UnixMilli(), 10)
	return j
}

// EventID is the Nats-Msg-Id of the job's expiration.completed: the same for every run of
// the job, so that JetStream drops a second publish within its duplicate window, and another
// for each deadline of the order.
func (j Job) EventID() string {
	return "expiration-" + j.OrderID + "-" + strconv.FormatInt(j.ExpiresAt.UnixMilli(), 10)
}

// Remaining is how long the job must still wait at now before it may fire; zero or negative
// when it is due.
func (j Job) Remaining(now time.Time) time.Duration { return j.ExpiresAt.Sub(now) }

// Lateness is how long after its due time the job fired at now.
func (j Job) Lateness(now time.Time) time.Duration { return now.Sub(j.ExpiresAt) }

// TooEarlyError is returned by a run that started more than MaxEarlyWait before the job is
// due: the run is put back for Remaining, and it does not count as a failure.
type TooEarlyError struct{ Remaining time.Duration }

func (e *TooEarlyError) Error() string {
	return fmt.Sprintf("expiry job started %s early", e.Remaining.Round(time.Millisecond))
}

// IsFailure says whether a run's error counts against the job's retries.
func IsFailure(err error) bool {
	var early *TooEarlyError
	return err != nil && !errors.As(err, &early)
}

// RetryDelay is the delay before the next run after a run that returned err, when that run
// was the job's retried-th retry (0 for the first run): the remaining wait of a run that
// came too early, otherwise an exponential backoff from FirstRetryDelay capped at
// MaxRetryDelay.
func RetryDelay(retried int, err error) time.Duration {
	var early *TooEarlyError
	if errors.As(err, &early) {
		return max(early.Remaining, 0)
	}
	d := FirstRetryDelay
	for i := 0; i < retried && d < MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, MaxRetryDelay)
}

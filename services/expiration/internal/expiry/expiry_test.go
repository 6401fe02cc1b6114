package expiry_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"ticketing/services/expiration/internal/expiry"
)

func TestNewJob(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 600_000_000, time.FixedZone("X", 3600))
	for _, tc := range []struct {
		name    string
		id      string
		at      time.Time
		wantErr bool
	}{
		{"valid", "o1", at, false},
		{"no order id", "", at, true},
		{"no expiresAt", "o1", time.Time{}, true},
	} {
		job, err := expiry.NewJob(tc.id, tc.at)
		if gotErr := err != nil; gotErr != tc.wantErr {
			t.Errorf("%s: err = %v, want error %v", tc.name, err, tc.wantErr)
			continue
		}
		if err != nil {
			if !errors.Is(err, expiry.ErrInvalid) {
				t.Errorf("%s: err %v is not ErrInvalid", tc.name, err)
			}
			continue
		}
		if !job.ExpiresAt.Equal(at) || job.ExpiresAt.Location() != time.UTC {
			t.Errorf("%s: ExpiresAt = %v, want %v in UTC", tc.name, job.ExpiresAt, at)
		}
	}
}

func TestJobTiming(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 10, 500_000_000, time.UTC)
	job, _ := expiry.NewJob("o1", at)
	if got := job.EventID(); got != "expiration-o1-1893456010500" {
		t.Errorf("EventID = %q", got)
	}
	if job.TaskID != "o1" {
		t.Errorf("TaskID = %q, want the order id", job.TaskID)
	}
	// A deadline that moved is a job of its own, with its own task and event ids.
	moved, _ := expiry.NewJob("o1", at.Add(time.Minute))
	if r := moved.Rescheduled(); r.TaskID != "o1@1893456070500" || r.EventID() != "expiration-o1-1893456070500" || r.OrderID != "o1" {
		t.Errorf("Rescheduled = %+v, event %q", r, r.EventID())
	}
	for _, tc := range []struct {
		now                 time.Time
		remaining, lateness time.Duration
	}{
		{at.Add(-900 * time.Millisecond), 900 * time.Millisecond, -900 * time.Millisecond}, // asynq's whole-second due time
		{at, 0, 0},
		{at.Add(250 * time.Millisecond), -250 * time.Millisecond, 250 * time.Millisecond},
	} {
		if got := job.Remaining(tc.now); got != tc.remaining {
			t.Errorf("Remaining(%v) = %v, want %v", tc.now, got, tc.remaining)
		}
		if got := job.Lateness(tc.now); got != tc.lateness {
			t.Errorf("Lateness(%v) = %v, want %v", tc.now, got, tc.lateness)
		}
	}
}

func TestRetryPolicy(t *testing.T) {
	failed := errors.New("publish: nats: timeout")
	early := fmt.Errorf("run: %w", &expiry.TooEarlyError{Remaining: 7 * time.Second})
	for _, tc := range []struct {
		name      string
		retried   int
		err       error
		want      time.Duration
		isFailure bool
	}{
		{"first failure", 0, failed, time.Second, true},
		{"second failure", 1, failed, 2 * time.Second, true},
		{"fifth failure", 4, failed, 16 * time.Second, true},
		{"capped", 5, failed, 30 * time.Second, true},
		{"long after the cap", 24, failed, 30 * time.Second, true},
		{"too early waits the remainder, not a failure", 3, early, 7 * time.Second, false},
		{"too early by nothing", 0, &expiry.TooEarlyError{Remaining: -time.Second}, 0, false},
	} {
		if got := expiry.RetryDelay(tc.retried, tc.err); got != tc.want {
			t.Errorf("%s: RetryDelay = %v, want %v", tc.name, got, tc.want)
		}
		if got := expiry.IsFailure(tc.err); got != tc.isFailure {
			t.Errorf("%s: IsFailure = %v, want %v", tc.name, got, tc.isFailure)
		}
	}
	if expiry.IsFailure(nil) {
		t.Error("IsFailure(nil) = true")
	}
}

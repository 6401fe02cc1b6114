package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	tasksGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ticketing_expiration_tasks",
		Help: "Expiry tasks in the queue by state (scheduled, pending, active, retry, archived = dead, completed = kept for the retention), as last counted.",
	}, []string{"state"})
	scheduledTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "ticketing_expiration_schedule_total",
		Help: "order.created handled by the scheduler, by outcome: scheduled, or duplicate (the order's task id already existed).",
	}, []string{"outcome"})
	cancelledTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "ticketing_expiration_cancel_total",
		Help: "Cancellations of expiry tasks, by outcome: deleted, not_found, or active (running; cannot be deleted).",
	}, []string{"outcome"})
)

// DefaultStatsInterval is how often the tasks are counted.
const DefaultStatsInterval = 5 * time.Second

// Monitor counts the tasks of the queue now and then, for the metrics and /readyz.
type Monitor struct {
	s *Scheduler

	mu   sync.Mutex
	last Counts
	ok   bool
}

// NewMonitor counts the tasks of s when asked (Update).
func NewMonitor(s *Scheduler) *Monitor { return &Monitor{s: s} }

// Update counts the tasks now.
func (m *Monitor) Update(context.Context) error {
	c, err := m.s.Counts()
	if err != nil {
		return fmt.Errorf("count expiry tasks: %w", err)
	}
	for state, n := range map[string]int{
		"scheduled": c.Scheduled, "pending": c.Pending, "active": c.Active,
		"retry": c.Retry, "archived": c.Archived, "completed": c.Completed,
	} {
		tasksGauge.WithLabelValues(state).Set(float64(n))
	}
	m.mu.Lock()
	m.last, m.ok = c, true
	m.mu.Unlock()
	return nil
}

// Last is the latest count, if any succeeded.
func (m *Monitor) Last() (Counts, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last, m.ok
}

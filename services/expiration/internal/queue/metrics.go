package queue

import (
	"context"
	"log/slog"
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

// DefaultStatsInterval is how often a Monitor counts the queue's tasks.
const DefaultStatsInterval = 5 * time.Second

// Monitor counts the tasks of the queue now and then, for the metrics and /readyz.
type Monitor struct {
	s        *Scheduler
	interval time.Duration
	log      *slog.Logger

	mu   sync.Mutex
	last Counts
	ok   bool
}

// NewMonitor counts the tasks of s every interval (DefaultStatsInterval when zero).
func NewMonitor(s *Scheduler, interval time.Duration, log *slog.Logger) *Monitor {
	if interval <= 0 {
		interval = DefaultStatsInterval
	}
	return &Monitor{s: s, interval: interval, log: log}
}

// Run counts until ctx ends.
func (m *Monitor) Run(ctx context.Context) error {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		m.Update()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Update counts the tasks now.
func (m *Monitor) Update() {
	c, err := m.s.Counts()
	if err != nil {
		m.log.Warn("count expiry tasks", "err", err)
		return
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
}

// Last is the latest count, if any succeeded.
func (m *Monitor) Last() (Counts, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last, m.ok
}

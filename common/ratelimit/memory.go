package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Memory is a Counter in process memory: one replica's view only.
type Memory struct {
	mu        sync.Mutex
	counts    map[string]*window
	now       func() time.Time
	lastSweep time.Time
}

type window struct {
	n    int
	ends time.Time
}

var _ Counter = (*Memory)(nil)

// NewMemory makes an empty in-process counter.
func NewMemory() *Memory { return NewMemoryClock(time.Now) }

// NewMemoryClock makes an in-process counter reading time from now (for tests).
func NewMemoryClock(now func() time.Time) *Memory {
	return &Memory{counts: map[string]*window{}, now: now}
}

// sweepEvery bounds how often expired windows are dropped, so memory follows the number of
// keys seen in the last window, not since the start.
const sweepEvery = time.Minute

// live is key's window if it has not ended. Call with mu held.
func (m *Memory) live(key string, now time.Time) *window {
	w := m.counts[key]
	if w != nil && !now.Before(w.ends) {
		delete(m.counts, key)
		return nil
	}
	return w
}

// Take implements Counter.
func (m *Memory) Take(_ context.Context, rules ...Rule) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if now.Sub(m.lastSweep) >= sweepEvery {
		for k, w := range m.counts {
			if !now.Before(w.ends) {
				delete(m.counts, k)
			}
		}
		m.lastSweep = now
	}
	var wait time.Duration
	for _, r := range rules {
		if w := m.live(r.Key, now); w != nil && w.n >= r.Limit {
			wait = max(wait, w.ends.Sub(now))
		}
	}
	if wait > 0 {
		return wait, nil
	}
	for _, r := range rules {
		w := m.live(r.Key, now)
		if w == nil {
			w = &window{ends: now.Add(r.Window)}
			m.counts[r.Key] = w
		}
		w.n++
	}
	return 0, nil
}

// Give implements Counter.
func (m *Memory) Give(_ context.Context, keys ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, k := range keys {
		if w := m.live(k, now); w != nil {
			if w.n--; w.n <= 0 {
				delete(m.counts, k)
			}
		}
	}
	return nil
}

// Reset implements Counter.
func (m *Memory) Reset(_ context.Context, keys ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.counts, k)
	}
	return nil
}

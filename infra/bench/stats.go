package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Recorder collects the latencies and statuses of one kind of request. Safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	lat      []time.Duration
	statuses map[int]int // 0: transport error
	first    time.Time
	last     time.Time
}

func NewRecorder() *Recorder { return &Recorder{statuses: map[int]int{}} }

// Add records one response.
func (r *Recorder) Add(resp Resp) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lat = append(r.lat, resp.Dur())
	r.statuses[resp.Status]++
	if r.first.IsZero() || resp.Start.Before(r.first) {
		r.first = resp.Start
	}
	if resp.End.After(r.last) {
		r.last = resp.End
	}
}

// Count is the number of responses with status (0: transport errors).
func (r *Recorder) Count(status int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.statuses[status]
}

// Total is the number of responses recorded.
func (r *Recorder) Total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lat)
}

// Span is the time from the first request sent to the last response read.
func (r *Recorder) Span() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last.Sub(r.first)
}

// Summary is the latency distribution.
func (r *Recorder) Summary() Latency {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Summarize(r.lat)
}

// Statuses is the count by status code ("error" for transport errors).
func (r *Recorder) Statuses() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for s, n := range r.statuses {
		k := strconv.Itoa(s)
		if s == 0 {
			k = "error"
		}
		out[k] = n
	}
	return out
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	Mean  float64 `json:"meanMs"`
	P50   float64 `json:"p50Ms"`
	P95   float64 `json:"p95Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
}

// Summarize computes nearest-rank percentiles of ds (which it sorts).
func Summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Latency{
		Count: len(ds),
		Mean:  ms(sum / time.Duration(len(ds))),
		P50:   ms(Percentile(ds, 0.50)),
		P95:   ms(Percentile(ds, 0.95)),
		P99:   ms(Percentile(ds, 0.99)),
		Max:   ms(ds[len(ds)-1]),
	}
}

// Percentile is the nearest-rank p-quantile of sorted ds: the smallest value with at least
// p of the values at or below it.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }

func (l Latency) String() string {
	if l.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p95 %s  p99 %s  max %s  (n=%d)", fmtMs(l.P50), fmtMs(l.P95), fmtMs(l.P99), fmtMs(l.Max), l.Count)
}

func fmtMs(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.1fs", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	default:
		return fmt.Sprintf("%.1fms", v)
	}
}

func fmtStatuses(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// Progress prints a status line every second until stopped: in place on a terminal, one
// line every five seconds otherwise.
type Progress struct {
	stop chan struct{}
	done chan struct{}
}

var stderrIsTerminal = func() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}()

// StartProgress shows "[label] line()" while the work runs.
func StartProgress(label string, line func() string) *Progress {
	p := &Progress{stop: make(chan struct{}), done: make(chan struct{})}
	start := time.Now()
	every := time.Second
	if !stderrIsTerminal {
		every = 5 * time.Second
	}
	print := func(end string) {
		s := fmt.Sprintf("[%s] %s  %.1fs", label, line(), time.Since(start).Seconds())
		if stderrIsTerminal {
			fmt.Fprintf(os.Stderr, "\r\033[K%s%s", s, end)
		} else {
			fmt.Fprintln(os.Stderr, s)
		}
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				print("\n")
				return
			case <-t.C:
				print("")
			}
		}
	}()
	return p
}

// Stop prints the final line.
func (p *Progress) Stop() {
	close(p.stop)
	<-p.done
}

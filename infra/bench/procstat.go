package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat (100 on Linux).
const clockTicks = 100

// procTimes is the CPU time of processes by pid, with their names.
type procTimes struct {
	at    time.Time
	ticks map[int]uint64
	comm  map[int]string
	label map[int]string // what to group the process under
}

// CPUUsage is the CPU a group of processes used during a scenario, in cores (1.0 = one
// core busy for the whole scenario).
type CPUUsage struct {
	Name  string  `json:"name"`
	Cores float64 `json:"cores"`
}

// CPUSampler measures the CPU of the dev stack's process tree (devstack, which also runs
// the gateway and the MongoDB stand-in, and each service), of this process, and of every
// postgres, nats-server and redis-server process on the machine (shared with whatever
// else runs there).
type CPUSampler struct {
	roots func() []int // pids whose trees are measured
}

// Snapshot reads /proc. It never fails: a process that vanished is left out.
func (s *CPUSampler) Snapshot() procTimes {
	pt := procTimes{at: time.Now(), ticks: map[int]uint64{}, comm: map[int]string{}, label: map[int]string{}}
	if runtime.GOOS != "linux" {
		return pt
	}
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, ticks, ok := readStat(pid)
		if !ok {
			continue
		}
		parent[pid] = ppid
		pt.ticks[pid] = ticks
		pt.comm[pid] = comm
	}
	roots := map[int]bool{}
	if s.roots != nil {
		for _, r := range s.roots() {
			roots[r] = true
		}
	}
	self := os.Getpid()
	for pid, comm := range pt.comm {
		switch {
		case pid == self:
			pt.label[pid] = "bench client"
		case comm == "postgres" || comm == "nats-server" || comm == "redis-server":
			pt.label[pid] = comm + " (all)"
		case roots[pid] && comm == "devstack":
			pt.label[pid] = "devstack (gateway + MongoDB stand-in)"
		case inTree(pid, roots, parent):
			pt.label[pid] = comm
		}
	}
	return pt
}

func inTree(pid int, roots map[int]bool, parent map[int]int) bool {
	for range 64 {
		if roots[pid] {
			return true
		}
		p, ok := parent[pid]
		if !ok || p <= 1 || p == pid {
			return false
		}
		pid = p
	}
	return false
}

// readStat parses /proc/<pid>/stat: comm, ppid and utime+stime.
func readStat(pid int) (string, int, uint64, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, 0, false
	}
	s := string(b)
	open, closeParen := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closeParen < open {
		return "", 0, 0, false
	}
	comm := s[open+1 : closeParen]
	f := strings.Fields(s[closeParen+1:])
	// f[0] state, f[1] ppid, ... f[11] utime, f[12] stime
	if len(f) < 13 {
		return "", 0, 0, false
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return comm, ppid, ut + st, true
}

// Usage is the CPU used between a and b, by label, busiest first; "machine" is every
// process on the machine, from /proc/stat.
func Usage(a, b procTimes, machineA, machineB uint64) []CPUUsage {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return nil
	}
	by := map[string]uint64{}
	for pid, t := range b.ticks {
		label := b.label[pid]
		if label == "" {
			continue
		}
		before := a.ticks[pid] // a process started in between counts from zero
		if a.comm[pid] != b.comm[pid] {
			before = 0
		}
		if t >= before {
			by[label] += t - before
		}
	}
	var out []CPUUsage
	for l, t := range by {
		out = append(out, CPUUsage{Name: l, Cores: round2(float64(t) / clockTicks / wall)})
	}
	slices.SortFunc(out, func(x, y CPUUsage) int { return cmp.Compare(y.Cores, x.Cores) })
	if machineB > machineA {
		out = append(out, CPUUsage{Name: "machine (all processes)", Cores: round2(float64(machineB-machineA) / clockTicks / wall)})
	}
	return out
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

// machineBusyTicks is the CPU time spent by every process on the machine (user, nice,
// system, irq, softirq, steal) from /proc/stat.
func machineBusyTicks() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 9 || fs[0] != "cpu" {
			continue
		}
		var busy uint64
		for i, v := range fs[1:9] {
			if i == 3 || i == 4 { // idle, iowait
				continue
			}
			n, _ := strconv.ParseUint(v, 10, 64)
			busy += n
		}
		return busy
	}
	return 0
}

// CPUWindow measures one scenario.
type CPUWindow struct {
	s       *CPUSampler
	a       procTimes
	machine uint64
}

func (s *CPUSampler) Start() *CPUWindow {
	return &CPUWindow{s: s, a: s.Snapshot(), machine: machineBusyTicks()}
}

func (w *CPUWindow) Stop() []CPUUsage {
	return Usage(w.a, w.s.Snapshot(), w.machine, machineBusyTicks())
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute averages.
func loadAvg() [3]string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return [3]string{"?", "?", "?"}
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return [3]string{"?", "?", "?"}
	}
	return [3]string{f[0], f[1], f[2]}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func memTotalMiB() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.Atoi(f[1])
				return kb / 1024
			}
		}
	}
	return 0
}

// ServerLat is the server-side view of a route from the services' Prometheus metrics.
type ServerLat struct {
	Name  string  `json:"name"`
	Count float64 `json:"count"`
	Mean  float64 `json:"meanMs"`
}

func (s ServerLat) String() string {
	return fmt.Sprintf("mean %s over %.0f requests (handler time, summed over replicas)", fmtMs(s.Mean), s.Count)
}

// Metrics scrapes the services' Prometheus endpoints.
type Metrics struct {
	hc      *http.Client
	targets map[string][]string // service -> metrics URLs
}

// Sum adds the values of the samples of name whose labels contain every want pair (a
// wanted value may list alternatives: "a|b"), over the service's replicas.
func (m *Metrics) Sum(ctx context.Context, service, name string, want map[string]string) (float64, error) {
	var total float64
	urls := m.targets[service]
	if len(urls) == 0 {
		return 0, fmt.Errorf("no metrics endpoint for %s", service)
	}
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
		if err != nil {
			return 0, err
		}
		resp, err := m.hc.Do(req)
		if err != nil {
			return 0, err
		}
		v, err := sumSamples(resp.Body, name, want)
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		total += v
	}
	return total, nil
}

// sumSamples reads Prometheus text exposition and adds the matching samples.
func sumSamples(r io.Reader, name string, want map[string]string) (float64, error) {
	var total float64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(name):]
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		} else if !strings.HasPrefix(rest, " ") {
			continue // another metric whose name starts with name
		}
		if !labelsMatch(labels, want) {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		total += v
	}
	return total, sc.Err()
}

func labelsMatch(labels string, want map[string]string) bool {
	have := map[string]string{}
	for _, kv := range splitLabels(labels) {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			have[k] = strings.Trim(v, `"`)
		}
	}
	for k, v := range want {
		if !slices.Contains(strings.Split(v, "|"), have[k]) {
			return false
		}
	}
	return true
}

// splitLabels splits `a="x",b="y,z"` at the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// routeWindow is the server-side latency of one route between two scrapes.
type routeWindow struct {
	m             *Metrics
	name, service string
	labels        map[string]string
	sum0, count0  float64
	ok            bool
}

func (m *Metrics) watchRoute(ctx context.Context, name, service string, labels map[string]string) *routeWindow {
	w := &routeWindow{m: m, name: name, service: service, labels: labels}
	if m == nil {
		return w
	}
	var err1, err2 error
	w.sum0, err1 = m.Sum(ctx, service, "ticketing_http_request_duration_seconds_sum", labels)
	w.count0, err2 = m.Sum(ctx, service, "ticketing_http_request_duration_seconds_count", labels)
	w.ok = err1 == nil && err2 == nil
	return w
}

func (w *routeWindow) stop(ctx context.Context) (ServerLat, bool) {
	if !w.ok {
		return ServerLat{}, false
	}
	sum, err1 := w.m.Sum(ctx, w.service, "ticketing_http_request_duration_seconds_sum", w.labels)
	count, err2 := w.m.Sum(ctx, w.service, "ticketing_http_request_duration_seconds_count", w.labels)
	if err1 != nil || err2 != nil || count <= w.count0 {
		return ServerLat{}, false
	}
	return ServerLat{Name: w.name, Count: count - w.count0, Mean: round2((sum - w.sum0) / (count - w.count0) * 1000)}, true
}

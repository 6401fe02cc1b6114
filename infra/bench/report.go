package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything a run measured; it is printed as a table and written as JSON.
type Report struct {
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished"`
	Command  string            `json:"command"`
	Machine  Machine           `json:"machine"`
	Stacks   []StackInfo       `json:"stacks"`
	Results  []*Result         `json:"results"`
	Flags    map[string]string `json:"flags"`
	Failed   bool              `json:"failed"` // an invariant check failed
}

// Machine describes where the run happened.
type Machine struct {
	Cores       int       `json:"cores"`
	CPU         string    `json:"cpu"`
	GoVersion   string    `json:"goVersion"`
	OS          string    `json:"os"`
	LoadBefore  [3]string `json:"loadBefore"`
	LoadAfter   [3]string `json:"loadAfter"`
	MemTotalMiB int       `json:"memTotalMiB"`
}

// StackInfo is one platform the run used.
type StackInfo struct {
	Name     string   `json:"name"`
	URL      string   `json:"url"`
	Mongo    string   `json:"mongodb"`
	Backend  string   `json:"backend"`
	Postgres string   `json:"postgres,omitempty"`
	Env      []string `json:"env,omitempty"`
	Startup  float64  `json:"startupSeconds,omitempty"`
	Logs     string   `json:"logs,omitempty"`
	// Tables is PostgreSQL's count of scans and writes per stand-in table over the stack's life.
	Tables []TableStat `json:"postgresTables,omitempty"`
}

// Result is one scenario's outcome.
type Result struct {
	Scenario string                    `json:"scenario"`
	Stack    string                    `json:"stack"`
	Params   map[string]any            `json:"params"`
	Metrics  []Metric                  `json:"metrics"`
	Latency  map[string]Latency        `json:"latency,omitempty"`
	Statuses map[string]map[string]int `json:"statuses,omitempty"`
	Checks   []Check                   `json:"checks"`
	CPU      []CPUUsage                `json:"cpu,omitempty"`
	Server   []ServerLat               `json:"server,omitempty"`
	Notes    []string                  `json:"notes,omitempty"`
	Seconds  float64                   `json:"seconds"`
	Err      string                    `json:"error,omitempty"`
}

// Metric is one number of a scenario.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// Check is an invariant (a failure fails the run) or a target (reported).
type Check struct {
	Name      string `json:"name"`
	Want      string `json:"want"`
	Got       string `json:"got"`
	OK        bool   `json:"ok"`
	Invariant bool   `json:"invariant"`
}

func newResult(scenario, stack string) *Result {
	return &Result{Scenario: scenario, Stack: stack, Params: map[string]any{}, Latency: map[string]Latency{},
		Statuses: map[string]map[string]int{}}
}

func (r *Result) metric(name string, v float64, unit string) {
	r.Metrics = append(r.Metrics, Metric{name, v, unit})
}

func (r *Result) invariant(name, want string, got any, ok bool) {
	r.Checks = append(r.Checks, Check{Name: name, Want: want, Got: fmt.Sprint(got), OK: ok, Invariant: true})
}

func (r *Result) target(name, want string, got any, ok bool) {
	r.Checks = append(r.Checks, Check{Name: name, Want: want, Got: fmt.Sprint(got), OK: ok})
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *Result) record(name string, rec *Recorder) {
	r.Latency[name] = rec.Summary()
	r.Statuses[name] = rec.Statuses()
}

// PrintTable writes the human summary.
func (rep *Report) PrintTable(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "\n== Ticketing load bench, %s ==\n", rep.Started.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "machine: %d cores (%s), %s, %s, %d MiB; load average before %s, after %s\n",
		m.Cores, m.CPU, m.GoVersion, m.OS, m.MemTotalMiB, strings.Join(m.LoadBefore[:], " "), strings.Join(m.LoadAfter[:], " "))
	for _, s := range rep.Stacks {
		env := ""
		if len(s.Env) > 0 {
			env = ", env " + strings.Join(s.Env, " ")
		}
		fmt.Fprintf(w, "stack %s: %s, MongoDB: %s%s\n", s.Name, s.URL, s.Backend, env)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "\n%s (stack %s, %.0fs)\n", strings.ToUpper(r.Scenario), r.Stack, r.Seconds)
		if r.Err != "" {
			fmt.Fprintf(tw, "  ERROR\t%s\n", r.Err)
		}
		for _, k := range sortedKeys(r.Params) {
			fmt.Fprintf(tw, "  param %s\t%v\n", k, r.Params[k])
		}
		for _, mt := range r.Metrics {
			fmt.Fprintf(tw, "  %s\t%s %s\n", mt.Name, fmtNum(mt.Value), mt.Unit)
		}
		for _, k := range sortedKeys(r.Latency) {
			fmt.Fprintf(tw, "  latency %s\t%s\n", k, r.Latency[k])
		}
		for _, k := range sortedKeys(r.Statuses) {
			fmt.Fprintf(tw, "  statuses %s\t%s\n", k, fmtStatuses(r.Statuses[k]))
		}
		for _, s := range r.Server {
			fmt.Fprintf(tw, "  server %s\t%s\n", s.Name, s)
		}
		if len(r.CPU) > 0 {
			var parts []string
			for _, c := range r.CPU {
				parts = append(parts, fmt.Sprintf("%s %.2f", c.Name, c.Cores))
			}
			fmt.Fprintf(tw, "  cpu (cores busy)\t%s\n", strings.Join(parts, ", "))
		}
		for _, c := range r.Checks {
			verdict := "ok"
			switch {
			case !c.OK && c.Invariant:
				verdict = "FAIL"
			case !c.OK:
				verdict = "missed"
			}
			kind := "target"
			if c.Invariant {
				kind = "invariant"
			}
			fmt.Fprintf(tw, "  %s %s\t%s (want %s): %s\n", kind, c.Name, c.Got, c.Want, verdict)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(tw, "  note\t%s\n", n)
		}
	}
	tw.Flush()
	for _, s := range rep.Stacks {
		if len(s.Tables) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nPostgreSQL behind the stand-in, stack %s (whole life of the stack; FerretDB keeps a collection per table):\n", s.Name)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "table\tseq scans\trows read by seq scans\tindex scans\tinserts\tupdates\trows\t")
		for _, t := range s.Tables {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", t.Table, t.SeqScan, t.SeqTupRead, t.IdxScan, t.Inserted, t.Updated, t.Rows)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
}

func fmtNum(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// Write stores the JSON and the table in dir.
func (rep *Report) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "summary.json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", err
	}
	f, err := os.Create(filepath.Join(dir, "summary.txt"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	rep.PrintTable(f)
	return path, nil
}

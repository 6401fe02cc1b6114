package monitoring

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The Go sources that export the platform's metrics, relative to this module.
var sourceDirs = []string{"../../common", "../../services"}

// metric is one metric family the code registers with client_golang.
type metric struct {
	name   string
	kind   string   // counter, gauge, histogram, summary
	labels []string // nil with known=false when they are not literals
	known  bool
	where  string
}

// series are the names a family's samples carry.
func (m metric) series() []string {
	switch m.kind {
	case "histogram":
		return []string{m.name + "_bucket", m.name + "_sum", m.name + "_count"}
	case "summary":
		return []string{m.name, m.name + "_sum", m.name + "_count"}
	}
	return []string{m.name}
}

// seriesInfo is what an expression may say about one series name.
type seriesInfo struct {
	metric metric
	labels map[string]bool // every label the series can carry
	known  bool            // false: labels unknown, any label accepted
}

// scrapeLabels are added by Prometheus (target labels of the chart's ServiceMonitor and of the
// usual Kubernetes pod discovery), not by the code.
var scrapeLabels = []string{"job", "instance", "namespace", "pod", "container", "service", "endpoint"}

// external are the metrics the dashboards and alerts read from other exporters, with the
// labels they may use. The NATS exporter (prometheus-nats-exporter -jsz=all, also the NATS
// Helm chart's exporter) exports each JetStream consumer's undelivered messages as
// nats_consumer_num_pending; recent releases name it jetstream_consumer_num_pending.
var external = map[string][]string{
	"nats_consumer_num_pending":      natsLabels,
	"jetstream_consumer_num_pending": natsLabels,
}

var natsLabels = []string{"stream_name", "consumer_name", "account", "account_id", "server_id", "server_name",
	"cluster", "domain", "is_consumer_leader", "is_stream_leader", "is_meta_leader", "meta_leader", "consumer_desc", "stream_leader", "consumer_leader"}

// constructors are client_golang's (and promauto's) metric constructors, by the kind they
// make.
var constructors = map[string]string{
	"NewCounter": "counter", "NewCounterVec": "counter", "NewCounterFunc": "counter",
	"NewGauge": "gauge", "NewGaugeVec": "gauge", "NewGaugeFunc": "gauge",
	"NewHistogram": "histogram", "NewHistogramVec": "histogram",
	"NewSummary": "summary", "NewSummaryVec": "summary",
}

// inventory finds every metric the non-test Go sources register: calls of a client_golang
// constructor whose options literal names the metric.
func inventory(t *testing.T) map[string]seriesInfo {
	t.Helper()
	out := map[string]seriesInfo{}
	fset := token.NewFileSet()
	for _, dir := range sourceDirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || d.Name() == "vendor") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				if m, ok := metricOf(call); ok {
					m.where = fset.Position(call.Pos()).String()
					if prev, dup := out[m.name]; dup && prev.metric.where != m.where {
						t.Errorf("metric %s is registered twice: %s and %s", m.name, prev.metric.where, m.where)
					}
					for _, s := range m.series() {
						info := seriesInfo{metric: m, known: m.known, labels: map[string]bool{}}
						for _, l := range append(slices.Clone(m.labels), scrapeLabels...) {
							info.labels[l] = true
						}
						if m.kind == "histogram" && strings.HasSuffix(s, "_bucket") {
							info.labels["le"] = true
						}
						if m.kind == "summary" && s == m.name {
							info.labels["quantile"] = true
						}
						out[s] = info
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatalf("read the Go sources: %v", err)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no metric found in %v", sourceDirs)
	}
	for name, labels := range external {
		info := seriesInfo{metric: metric{name: name, kind: "gauge", labels: labels, known: true, where: "external"},
			known: true, labels: map[string]bool{}}
		for _, l := range append(slices.Clone(labels), scrapeLabels...) {
			info.labels[l] = true
		}
		out[name] = info
	}
	return out
}

// metricOf reads a constructor call: promauto.NewCounterVec(prometheus.CounterOpts{Name: ...},
// []string{...}) and the like, including promauto.With(reg).NewX and prometheus.NewX.
func metricOf(call *ast.CallExpr) (metric, bool) {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return metric{}, false
	}
	kind, ok := constructors[sel.Sel.Name]
	if !ok || len(call.Args) == 0 {
		return metric{}, false
	}
	opts := call.Args[0]
	if u, ok := opts.(*ast.UnaryExpr); ok && u.Op == token.AND {
		opts = u.X
	}
	lit, ok := opts.(*ast.CompositeLit)
	if !ok {
		return metric{}, false
	}
	typ, ok := lit.Type.(*ast.SelectorExpr)
	if !ok || !strings.HasSuffix(typ.Sel.Name, "Opts") {
		return metric{}, false
	}
	var namespace, subsystem, name string
	for _, elt := range lit.Elts {
		kv, ok := elt.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		key, _ := kv.Key.(*ast.Ident)
		value := stringLit(kv.Value)
		switch {
		case key == nil:
		case key.Name == "Namespace":
			namespace = value
		case key.Name == "Subsystem":
			subsystem = value
		case key.Name == "Name":
			name = value
		}
	}
	if name == "" {
		return metric{}, false
	}
	full := strings.Join(slices.DeleteFunc([]string{namespace, subsystem, name}, func(s string) bool { return s == "" }), "_")
	m := metric{name: full, kind: kind, known: true}
	if strings.HasSuffix(sel.Sel.Name, "Vec") {
		m.labels, m.known = labelsOf(call)
	}
	return m, true
}

// labelsOf reads the label names of a Vec constructor, when they are string literals.
func labelsOf(call *ast.CallExpr) ([]string, bool) {
	if len(call.Args) < 2 {
		return nil, false
	}
	lit, ok := call.Args[1].(*ast.CompositeLit)
	if !ok {
		return nil, false
	}
	var out []string
	for _, e := range lit.Elts {
		s := stringLit(e)
		if s == "" {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func stringLit(e ast.Expr) string {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return ""
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		return ""
	}
	return s
}

// The inventory finds the metrics the issue names, so that a check against it means
// something.
func TestInventoryFindsTheServicesMetrics(t *testing.T) {
	inv := inventory(t)
	for name, labels := range map[string][]string{
		"ticketing_http_requests_total":                  {"route", "method", "code"},
		"ticketing_http_request_duration_seconds_bucket": {"route", "method", "le"},
		"ticketing_events_published_total":               {"subject", "duplicate"},
		"ticketing_events_handled_total":                 {"subject", "consumer", "outcome"},
		"ticketing_outbox_oldest_pending_seconds":        {"collection"},
		"ticketing_expiration_lateness_seconds_bucket":   {"le"},
	} {
		info, ok := inv[name]
		if !ok {
			t.Errorf("%s not found in the sources", name)
			continue
		}
		for _, l := range labels {
			if !info.labels[l] {
				t.Errorf("%s: label %s not found (%s)", name, l, info.metric.where)
			}
		}
	}
	if t.Failed() {
		var names []string
		for n := range inv {
			names = append(names, n)
		}
		slices.Sort(names)
		t.Log(fmt.Sprint("found: ", names))
	}
}

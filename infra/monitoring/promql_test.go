package monitoring

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

var promql = parser.NewParser(parser.Options{})

// literalNames matches a __name__ regular expression that is an alternation of metric names.
var literalNames = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\|[a-zA-Z_:][a-zA-Z0-9_:]*)*$`)

// checkExpr parses expr and lists what it names that the code does not export: unknown
// metrics, and labels (in matchers, by/without, on/ignoring/group_x) that none of the metrics
// involved carries. It returns the metric names it reads.
func checkExpr(expr string, inv map[string]seriesInfo) (names []string, problems []string) {
	root, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, []string{fmt.Sprintf("does not parse: %v", err)}
	}
	problemf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	parser.Inspect(root, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			sel, err := selectorNames(n)
			if err != nil {
				problemf("%s: %v", n, err)
				return nil
			}
			for _, name := range sel {
				names = append(names, name)
				info, ok := inv[name]
				if !ok {
					problemf("metric %s is not exported by the code (nor a documented external metric)", name)
					continue
				}
				for _, m := range n.LabelMatchers {
					if m.Name != model.MetricNameLabel && info.known && !info.labels[m.Name] {
						problemf("%s has no label %q (%s)", name, m.Name, info.metric.where)
					}
				}
			}
		case *parser.AggregateExpr:
			checkGrouping(fmt.Sprintf("%s by/without", n.Op), n.Grouping, []parser.Node{n.Expr}, inv, problemf)
		case *parser.BinaryExpr:
			if vm := n.VectorMatching; vm != nil {
				checkGrouping("on/ignoring", vm.MatchingLabels, []parser.Node{n.LHS, n.RHS}, inv, problemf)
				checkGrouping("group_left/right", vm.Include, []parser.Node{n.LHS, n.RHS}, inv, problemf)
			}
		}
		return nil
	})
	return names, problems
}

// checkGrouping asks that each label be carried by at least one of the metrics under nodes.
func checkGrouping(what string, groupBy []string, nodes []parser.Node, inv map[string]seriesInfo, problemf func(string, ...any)) {
	if len(groupBy) == 0 {
		return
	}
	carried := map[string]bool{}
	anyLabel := false
	for _, node := range nodes {
		parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			names, _ := selectorNames(vs)
			for _, name := range names {
				info, ok := inv[name]
				if !ok {
					continue
				}
				if !info.known {
					anyLabel = true
				}
				for l := range info.labels {
					carried[l] = true
				}
			}
			return nil
		})
	}
	if anyLabel {
		return
	}
	for _, l := range groupBy {
		if !carried[l] {
			problemf("%s label %q is carried by none of the metrics involved", what, l)
		}
	}
}

// selectorNames are the metric names a selector reads: its name, or the names of its
// __name__ matcher (an equality, or an alternation of literal names).
func selectorNames(vs *parser.VectorSelector) ([]string, error) {
	if vs.Name != "" {
		return []string{vs.Name}, nil
	}
	for _, m := range vs.LabelMatchers {
		if m.Name != model.MetricNameLabel {
			continue
		}
		switch m.Type {
		case labels.MatchEqual:
			return []string{m.Value}, nil
		case labels.MatchRegexp:
			if !literalNames.MatchString(m.Value) {
				return nil, fmt.Errorf("__name__ must be an alternation of metric names, not %q", m.Value)
			}
			return strings.Split(m.Value, "|"), nil
		}
	}
	return nil, fmt.Errorf("a selector without a metric name")
}

// grafanaVariables are Grafana's interval variables and the dashboard's own ($namespace,
// ${datasource}...), replaced before parsing: intervals by a duration, others (used inside
// label matchers) by a regular expression.
var (
	grafanaIntervals = regexp.MustCompile(`\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}`)
	grafanaVariable  = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}|\$[A-Za-z_][A-Za-z0-9_]*`)
)

func expandGrafana(expr string) string {
	expr = grafanaIntervals.ReplaceAllString(expr, "5m")
	return grafanaVariable.ReplaceAllString(expr, ".*")
}

func containsAll(have []string, want ...string) []string {
	var missing []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			missing = append(missing, w)
		}
	}
	return missing
}

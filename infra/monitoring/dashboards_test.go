package monitoring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dashboardsDir holds the Grafana dashboards that templates/monitoring-dashboards.yaml puts
// in ConfigMaps for Grafana's sidecar.
var dashboardsDir = filepath.Join(chart, "dashboards")

// requiredPanels are the metrics issue 11 asks the dashboards to show: request rate, latency
// and 5xx by route; events published, handled and dead-lettered; outbox backlog and oldest
// age; expiry lateness; holds taken and refused; orders by state; payments by outcome; and
// the JetStream consumer lag.
var requiredPanels = []string{
	"ticketing_http_requests_total",
	"ticketing_http_request_duration_seconds_bucket",
	"ticketing_events_published_total",
	"ticketing_events_handled_total",
	"ticketing_events_dead_lettered_total",
	"ticketing_outbox_pending_events",
	"ticketing_outbox_oldest_pending_seconds",
	"ticketing_expiration_lateness_seconds_bucket",
	"ticketing_order_holds_total",
	"ticketing_orders_total",
	"ticketing_payments_total",
	"nats_consumer_num_pending",
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	GridPos    gridPos     `json:"gridPos"`
	Datasource *datasource `json:"datasource"`
	Targets    []target    `json:"targets"`
	Panels     []panel     `json:"panels"` // a collapsed row's
}

type gridPos struct{ H, W, X, Y int }

type target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Datasource *datasource `json:"datasource"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasource     `json:"datasource"`
}

var panelTypes = []string{"timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "text", "row"}

// labelValues is a Grafana query variable: label_values(selector, label).
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// Each dashboard decodes, is laid out on Grafana's 24-column grid without overlaps, reads
// from the ${datasource} variable (so it works with any Prometheus data source), and every
// query parses and names only metrics and labels the code exports. Together they show what
// the issue lists.
func TestDashboards(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no dashboard in %s", dashboardsDir)
	}
	inv := inventory(t)
	var shown []string
	uids := map[string]string{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&d); err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if dec.More() {
			t.Errorf("%s: more than one JSON value", file)
		}
		name := filepath.Base(file)
		if d.UID == "" || len(d.UID) > 40 || d.Title == "" || d.SchemaVersion == 0 {
			t.Errorf("%s: uid %q (1 to 40 characters), title %q and schemaVersion %d are required", name, d.UID, d.Title, d.SchemaVersion)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share the uid %q", name, other, d.UID)
		}
		uids[d.UID] = name
		shown = append(shown, checkVariables(t, name, d.Templating.List, inv)...)
		shown = append(shown, checkPanels(t, name, d.Panels, inv)...)
	}
	if missing := containsAll(shown, requiredPanels...); len(missing) > 0 {
		t.Errorf("no panel shows %v", missing)
	}
}

func checkVariables(t *testing.T, file string, vars []variable, inv map[string]seriesInfo) []string {
	t.Helper()
	var names []string
	hasDatasource := false
	for _, v := range vars {
		switch v.Type {
		case "datasource":
			var q string
			if err := json.Unmarshal(v.Query, &q); err != nil || q != "prometheus" {
				t.Errorf("%s: variable %s: a datasource variable of type prometheus", file, v.Name)
			}
			hasDatasource = hasDatasource || v.Name == "datasource"
		case "query":
			var q struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Errorf("%s: variable %s: query: %v", file, v.Name, err)
				continue
			}
			m := labelValues.FindStringSubmatch(q.Query)
			if m == nil {
				t.Errorf("%s: variable %s: %q is not label_values(selector, label)", file, v.Name, q.Query)
				continue
			}
			got, problems := checkExpr(expandGrafana(m[1]), inv)
			names = append(names, got...)
			for _, p := range problems {
				t.Errorf("%s: variable %s: %s", file, v.Name, p)
			}
			for _, metric := range got {
				if info, ok := inv[metric]; ok && info.known && !info.labels[m[2]] {
					t.Errorf("%s: variable %s: %s has no label %q", file, v.Name, metric, m[2])
				}
			}
			checkDatasource(t, fmt.Sprintf("%s: variable %s", file, v.Name), v.Datasource)
		default:
			t.Errorf("%s: variable %s of type %q", file, v.Name, v.Type)
		}
	}
	if !hasDatasource {
		t.Errorf(`%s: no "datasource" variable of type datasource`, file)
	}
	return names
}

func checkDatasource(t *testing.T, where string, ds *datasource) {
	t.Helper()
	if ds == nil || ds.Type != "prometheus" || ds.UID != "${datasource}" {
		t.Errorf(`%s: datasource %+v, want {prometheus ${datasource}}`, where, ds)
	}
}

func checkPanels(t *testing.T, file string, panels []panel, inv map[string]seriesInfo) []string {
	t.Helper()
	var names []string
	ids := map[int]bool{}
	var placed []panel
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("%s: panel %d %q", file, p.ID, p.Title)
			if p.ID <= 0 || ids[p.ID] {
				t.Errorf("%s: ids must be positive and unique", where)
			}
			ids[p.ID] = true
			if !slices.Contains(panelTypes, p.Type) || p.Title == "" {
				t.Errorf("%s: type %q (one of %v) and a title are required", where, p.Type, panelTypes)
			}
			g := p.GridPos
			if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
				t.Errorf("%s: gridPos %+v is off Grafana's 24-column grid", where, g)
			}
			for _, other := range placed {
				o := other.GridPos
				if g.X < o.X+o.W && o.X < g.X+g.W && g.Y < o.Y+o.H && o.Y < g.Y+g.H {
					t.Errorf("%s: overlaps panel %d %q", where, other.ID, other.Title)
				}
			}
			placed = append(placed, p)
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if p.Type == "text" {
				continue
			}
			checkDatasource(t, where, p.Datasource)
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("%s: refIds must be set and unique", where)
				}
				refs[tg.RefID] = true
				checkDatasource(t, where+" "+tg.RefID, tg.Datasource)
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s %s: empty expr", where, tg.RefID)
					continue
				}
				got, problems := checkExpr(expandGrafana(tg.Expr), inv)
				names = append(names, got...)
				for _, pr := range problems {
					t.Errorf("%s %s: %s", where, tg.RefID, pr)
				}
			}
		}
	}
	walk(panels)
	return names
}

// The ConfigMap template reads the dashboards this test checks.
func TestDashboardTemplateReadsTheDashboards(t *testing.T) {
	tpl, err := os.ReadFile(filepath.Join(chart, "templates", "monitoring-dashboards.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(tpl), `.Files.Glob "dashboards/*.json"`) {
		t.Error("templates/monitoring-dashboards.yaml does not read dashboards/*.json")
	}
}

// Grafana's variables are expanded before parsing, so that a dashboard query is checked as
// Prometheus will receive it.
func TestExpandGrafana(t *testing.T) {
	for in, want := range map[string]string{
		`rate(x{job=~"$job"}[$__rate_interval])`:           `rate(x{job=~".*"}[5m])`,
		`increase(x{namespace=~"${namespace}"}[$__range])`: `increase(x{namespace=~".*"}[5m])`,
		`sum(x{a=~"${a:regex}"}) [${__interval}]`:          `sum(x{a=~".*"}) [5m]`,
	} {
		if got := expandGrafana(in); got != want {
			t.Errorf("expandGrafana(%s) = %s, want %s", in, got, want)
		}
	}
}

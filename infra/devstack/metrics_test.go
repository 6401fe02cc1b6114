package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scraped is the /metrics of one service process.
type scraped struct {
	Replica
	families map[string]*dto.MetricFamily
}

func scrapeAll(s *Stack) ([]scraped, error) {
	var out []scraped
	client := &http.Client{Timeout: 5 * time.Second}
	for _, r := range s.Replicas() {
		resp, err := client.Get("http://" + r.MetricsAddr + "/metrics")
		if err != nil {
			return nil, fmt.Errorf("%s-%d: %w", r.Service, r.Index, err)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s-%d: %w", r.Service, r.Index, err)
		}
		out = append(out, scraped{r, mfs})
	}
	return out, nil
}

// value sums the samples of a counter, gauge or histogram (its count) whose labels include
// match.
func (p scraped) value(name string, match map[string]string) float64 {
	mf := p.families[name]
	if mf == nil {
		return 0
	}
	total := 0.0
next:
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range match {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// sum is value over every process of service.
func sum(ps []scraped, service, name string, match map[string]string) float64 {
	total := 0.0
	for _, p := range ps {
		if p.Service == service {
			total += p.value(name, match)
		}
	}
	return total
}

// clientCount is how many answers with code the clients got for route ("POST /api/orders").
func clientCount(clients []*client, route string, code int) int {
	n := 0
	for _, c := range clients {
		c.mu.Lock()
		n += c.statuses[route][code]
		c.mu.Unlock()
	}
	return n
}

// checkMetrics scrapes every service process and compares its counters with what the test
// caused, as the clients and the bus watcher saw it. A service none of whose replicas was
// restarted must have counted every success the clients got from it, every event it
// published, and its domain outcomes; a restarted replica lost its counters at the crash, so
// its service is only checked for agreement between its own counters. Events are relayed
// asynchronously: the check is retried for a while before it reports what differs.
func checkMetrics(t *testing.T, s *Stack, bus *busWatch, clients []*client) {
	t.Helper()
	var problems []string
	var ps []scraped
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		if ps, err = scrapeAll(s); err != nil {
			t.Fatal(err)
		}
		problems = metricProblems(ps, bus, clients)
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond) // polling interval: until the counters agree
	}
	for _, p := range problems {
		t.Error(p)
	}
	var starts []string
	for _, p := range ps {
		starts = append(starts, fmt.Sprintf("%s-%d:%d", p.Service, p.Index, p.Starts))
	}
	t.Logf("processes (starts) %v; orders created %v, holds refused %v, cancelled %v, complete %v; tickets created %v; payments succeeded %v, refunded %v; expiries %v",
		starts,
		sum(ps, "orders", "ticketing_orders_total", map[string]string{"status": "created"}),
		sum(ps, "orders", "ticketing_order_holds_total", map[string]string{"outcome": "refused"}),
		sum(ps, "orders", "ticketing_orders_total", map[string]string{"status": "cancelled"}),
		sum(ps, "orders", "ticketing_orders_total", map[string]string{"status": "complete"}),
		sum(ps, "tickets", "ticketing_events_published_total", map[string]string{"subject": "ticket.created", "duplicate": "false"}),
		sum(ps, "payments", "ticketing_payments_total", map[string]string{"outcome": "succeeded"}),
		sum(ps, "payments", "ticketing_payments_total", map[string]string{"outcome": "refunded"}),
		sum(ps, "expiration", "ticketing_events_published_total", map[string]string{"subject": "expiration.completed", "duplicate": "false"}))
}

func metricProblems(ps []scraped, bus *busWatch, clients []*client) []string {
	var out []string
	eq := func(what string, got, want float64) {
		if got != want {
			out = append(out, fmt.Sprintf("%s: %v, want %v", what, got, want))
		}
	}
	restarted := map[string]bool{}
	for _, p := range ps {
		name := fmt.Sprintf("%s-%d", p.Service, p.Index)
		if p.Starts > 1 {
			restarted[p.Service] = true
		}
		// The default registry's Go runtime and process collectors are there.
		for _, fam := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
			if p.families[fam] == nil {
				out = append(out, name+": no "+fam)
			}
		}
		// No API request failed in a service (the gateway's 502s for a killed replica are
		// the gateway's), and no event was dead-lettered.
		for _, m := range p.families["ticketing_http_requests_total"].GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if strings.HasPrefix(labels["code"], "5") && strings.HasPrefix(labels["route"], "/api") {
				out = append(out, fmt.Sprintf("%s: %s %s answered %s %v times", name, labels["method"], labels["route"], labels["code"], m.GetCounter().GetValue()))
			}
		}
		eq(name+": events dead-lettered", p.value("ticketing_events_dead_lettered_total", nil), 0)
		// Within one process, whatever its restarts: every order the API created was counted.
		if p.Service == "orders" {
			eq(name+": orders created vs its 201s", p.value("ticketing_orders_total", map[string]string{"status": "created"}),
				p.value("ticketing_http_requests_total", map[string]string{"route": "/api/orders", "method": "POST", "code": "201"}))
			eq(name+": holds refused vs its 409s", p.value("ticketing_order_holds_total", map[string]string{"outcome": "refused"}),
				p.value("ticketing_http_requests_total", map[string]string{"route": "/api/orders", "method": "POST", "code": "409"}))
		}
	}

	// Every success the clients got from a service that kept its counters, by route. A service
	// may serve several prefixes (tickets: /api/tickets and /api/events).
	prefixes := map[string][]string{}
	var services []string
	for _, rt := range Routes {
		if prefixes[rt.Service] == nil {
			services = append(services, rt.Service)
		}
		prefixes[rt.Service] = append(prefixes[rt.Service], rt.Prefix)
	}
	servedBy := func(service, path string) bool {
		for _, p := range prefixes[service] {
			if path == p || strings.HasPrefix(path, p+"/") {
				return true
			}
		}
		return false
	}
	for _, service := range services {
		if restarted[service] {
			continue
		}
		want := map[string]float64{} // "METHOD route code"
		for _, c := range clients {
			c.mu.Lock()
			for route, st := range c.statuses {
				method, path, _ := strings.Cut(route, " ")
				if !servedBy(service, path) {
					continue
				}
				for code, n := range st {
					if code >= 200 && code < 300 {
						want[method+" "+path+" "+strconv.Itoa(code)] += float64(n)
					}
				}
			}
			c.mu.Unlock()
		}
		got := map[string]float64{}
		for _, p := range ps {
			if p.Service != service {
				continue
			}
			for _, m := range p.families["ticketing_http_requests_total"].GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if strings.HasPrefix(labels["code"], "2") && strings.HasPrefix(labels["route"], "/api") {
					got[labels["method"]+" "+labels["route"]+" "+labels["code"]] += m.GetCounter().GetValue()
				}
			}
		}
		for k := range want {
			got[k] += 0
		}
		for k, n := range got {
			eq(service+": requests "+k, n, want[k])
		}
	}

	published := func(service, subject string) float64 {
		return sum(ps, service, "ticketing_events_published_total", map[string]string{"subject": subject, "duplicate": "false"})
	}
	if !restarted["tickets"] {
		created := float64(clientCount(clients, "POST /api/tickets", 201))
		eq("tickets: ticket.created published vs tickets created", published("tickets", "ticket.created"), created)
		eq("tickets: ticket.created published vs on the bus", published("tickets", "ticket.created"), float64(bus.count("ticket.created")))
		eq("tickets: ticket.updated published vs on the bus", published("tickets", "ticket.updated"), float64(bus.count("ticket.updated")))
	}
	if !restarted["orders"] {
		orders := func(status, cause string) float64 {
			m := map[string]string{"status": status}
			if cause != "" {
				m["cause"] = cause
			}
			return sum(ps, "orders", "ticketing_orders_total", m)
		}
		eq("orders: created vs the clients' 201s", orders("created", ""), float64(clientCount(clients, "POST /api/orders", 201)))
		eq("orders: holds taken vs the clients' 201s", sum(ps, "orders", "ticketing_order_holds_total", map[string]string{"outcome": "taken"}),
			float64(clientCount(clients, "POST /api/orders", 201)))
		eq("orders: holds refused vs the clients' 409s", sum(ps, "orders", "ticketing_order_holds_total", map[string]string{"outcome": "refused"}),
			float64(clientCount(clients, "POST /api/orders", 409)))
		eq("orders: cancelled by users vs the clients' 204s", orders("cancelled", "user"), float64(clientCount(clients, "DELETE /api/orders/{id}", 204)))
		eq("orders: cancelled vs order.cancelled on the bus", orders("cancelled", ""), float64(bus.count("order.cancelled")))
		eq("orders: complete vs order.completed on the bus", orders("complete", ""), float64(bus.count("order.completed")))
		for _, subject := range []string{"order.created", "order.cancelled", "order.completed"} {
			eq("orders: "+subject+" published vs on the bus", published("orders", subject), float64(bus.count(subject)))
		}
	}
	if !restarted["payments"] {
		pays := func(outcome string) float64 {
			return sum(ps, "payments", "ticketing_payments_total", map[string]string{"outcome": outcome})
		}
		succeeded, refunded := pays("succeeded"), pays("refunded")
		eq("payments: succeeded vs payment.created on the bus", succeeded, float64(bus.count("payment.created")))
		eq("payments: refunded vs payment.refunded on the bus", refunded, float64(bus.count("payment.refunded")))
		eq("payments: payment.created published vs on the bus", published("payments", "payment.created"), float64(bus.count("payment.created")))
		// A charge that succeeds for an order cancelled meanwhile is refunded at once and
		// answers 409: succeeded lies between the 201s and the 201s plus the refunds.
		if ok := float64(clientCount(clients, "POST /api/payments", 201)); succeeded < ok || succeeded > ok+refunded {
			out = append(out, fmt.Sprintf("payments: %v succeeded, %v refunded, but the clients got %v 201s", succeeded, refunded, ok))
		}
	}
	if !restarted["expiration"] {
		n := published("expiration", "expiration.completed")
		eq("expiration: expiration.completed published vs on the bus", n, float64(bus.count("expiration.completed")))
		if late := sum(ps, "expiration", "ticketing_expiration_lateness_seconds", nil); late < n {
			out = append(out, fmt.Sprintf("expiration: lateness observed %v times for %v expiries", late, n))
		}
	}
	return out
}

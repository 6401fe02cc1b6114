package main

import (
	"strings"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.95, 95 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := Percentile(ds, c.p); got != c.want {
			t.Errorf("p%.2f = %s, want %s", c.p, got, c.want)
		}
	}
	l := Summarize([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond})
	if l.P50 != 2 || l.Max != 3 || l.Count != 3 || l.Mean != 2 {
		t.Errorf("summary %+v", l)
	}
}

func TestCountDoubleHolds(t *testing.T) {
	s := func(v string) *string { return &v }
	tickets := []string{"t1", "t2", "t3", "t4", "t5"}
	live := map[string][]string{
		"t1": {"o1"},       // one order, tickets view agrees
		"t2": {"o2", "o3"}, // two live orders: double in both views
		"t3": {"o4"},       // tickets view names another order: double across views
		"t4": nil,          // free in both
		"t5": {"o6"},       // tickets view not caught up: not a double
	}
	holder := map[string]*string{"t1": s("o1"), "t2": s("o2"), "t3": s("o5"), "t4": nil, "t5": nil}
	ordersView, both := countDoubleHolds(tickets, live, holder)
	if ordersView != 1 || both != 2 {
		t.Errorf("orders view %d, both %d; want 1, 2", ordersView, both)
	}
	if !settled(s("o1"), live["t1"]) || settled(nil, live["t5"]) || !settled(nil, nil) || settled(s("o5"), live["t3"]) {
		t.Error("settled")
	}
}

func TestSumSamples(t *testing.T) {
	text := `# HELP ticketing_events_handled_total x
ticketing_events_handled_total{consumer="orders-ticket-created",outcome="ack",subject="ticket.created"} 7
ticketing_events_handled_total{consumer="orders-ticket-updated",outcome="ack",subject="ticket.updated"} 5
ticketing_events_handled_total{consumer="orders-ticket-created",outcome="not_yet",subject="ticket.created"} 2
ticketing_events_handled_totalx{subject="ticket.created",outcome="ack"} 100
ticketing_http_request_duration_seconds_sum{method="POST",route="/api/orders/"} 1.5
`
	got, err := sumSamples(strings.NewReader(text), "ticketing_events_handled_total", map[string]string{"subject": "ticket.created", "outcome": "ack"})
	if err != nil || got != 7 {
		t.Errorf("got %v, %v; want 7", got, err)
	}
	got, _ = sumSamples(strings.NewReader(text), "ticketing_http_request_duration_seconds_sum", map[string]string{"route": "/api/orders/", "method": "POST"})
	if got != 1.5 {
		t.Errorf("sum %v", got)
	}
	got, _ = sumSamples(strings.NewReader(text), "ticketing_http_request_duration_seconds_sum", map[string]string{"route": "/api/orders|/api/orders/", "method": "POST"})
	if got != 1.5 {
		t.Errorf("sum %v", got)
	}
	if parts := splitLabels(`a="x,y",b="z"`); len(parts) != 2 || parts[1] != `b="z"` {
		t.Errorf("splitLabels %q", parts)
	}
}

func TestParseFlagsDefaults(t *testing.T) {
	c, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.DistinctClients != 32 || c.RushBuyers != 200 || c.RushTickets != 20 || c.PropTickets != 100 || c.ExpiryOrders != 2000 || c.ListingReaders != 64 || len(c.Scenarios) != 5 {
		t.Errorf("defaults %+v", c)
	}
	if _, err := parseFlags([]string{"-scenarios", "nope"}); err == nil {
		t.Error("unknown scenario accepted")
	}
}

func TestStoreCommands(t *testing.T) {
	text := `# HELP ticketing_store_commands_total x
ticketing_store_commands_total{command="insert",service="orders"} 3
ticketing_store_commands_total{command="update",service="orders"} 2
ticketing_store_commands_totalx{command="update",service="orders"} 100
`
	byCmd, err := samplesBy(strings.NewReader(text), "ticketing_store_commands_total", "command")
	if err != nil || len(byCmd) != 2 || byCmd["insert"] != 3 || byCmd["update"] != 2 {
		t.Fatalf("samplesBy = %v, %v", byCmd, err)
	}
	after := storeCommands{"orders": {"insert": 5, "update": 2, "find": 1}, "payments": {"insert": 4}}
	d := after.minus(storeCommands{"orders": byCmd})
	if d.total() != 7 || d["orders"]["insert"] != 2 || d["orders"]["update"] != 0 || d["payments"]["insert"] != 4 {
		t.Errorf("minus = %v", d)
	}
}

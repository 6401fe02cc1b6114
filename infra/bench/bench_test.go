package main

import (
	"cmp"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
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
	if c.DistinctClients != 32 || c.RushBuyers != 200 || c.RushTickets != 20 || c.PropTickets != 100 || c.ExpiryOrders != 2000 || c.ListingReaders != 64 || len(c.Scenarios) != 6 ||
		c.OnsaleBuyers != 10000 || c.OnsaleTickets != 1000 || c.OnsaleLate != 0.1 {
		t.Errorf("defaults %+v", c)
	}
	if _, err := parseFlags([]string{"-scenarios", "nope"}); err == nil {
		t.Error("unknown scenario accepted")
	}
	for _, bad := range [][]string{{"-onsale-late", "1.5"}, {"-onsale-tickets", "10001"}, {"-onsale-poll-max", "100ms"}, {"-onsale-admit", "0"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
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

func TestSpearman(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5}
	if r := spearman(xs, []float64{10, 20, 30, 40, 50}); math.Abs(r-1) > 1e-12 {
		t.Errorf("same order: %v", r)
	}
	if r := spearman(xs, []float64{9, 7, 5, 3, 1}); math.Abs(r+1) > 1e-12 {
		t.Errorf("reversed: %v", r)
	}
	// Monotone but not linear: ranks only.
	if r := spearman(xs, []float64{1, 8, 27, 64, 1e6}); math.Abs(r-1) > 1e-12 {
		t.Errorf("monotone: %v", r)
	}
	// Ties take their average rank: [1, 2.5, 2.5, 4] against [1, 2, 3, 4].
	if got := ranksBy(4, func(i, j int) int { return cmp.Compare([]float64{1, 5, 5, 9}[i], []float64{1, 5, 5, 9}[j]) }); !slices.Equal(got, []float64{1, 2.5, 2.5, 4}) {
		t.Errorf("ranks with ties %v", got)
	}
	if r := spearman([]float64{1, 2, 3, 4}, []float64{1, 5, 5, 9}); math.Abs(r-0.9486832980505138) > 1e-9 {
		t.Errorf("with ties: %v", r)
	}
	if r := spearman([]float64{1}, []float64{1}); !math.IsNaN(r) {
		t.Errorf("one value: %v", r)
	}
	if r := spearman([]float64{1, 2, 3}, []float64{4, 4, 4}); !math.IsNaN(r) {
		t.Errorf("constant: %v", r)
	}
	// Independent orders of 5,000: near 0 (the standard deviation is 1/sqrt(n-1), 0.014).
	rng := rand.New(rand.NewPCG(1, 2))
	a, b := make([]float64, 5000), make([]float64, 5000)
	for i := range a {
		a[i], b[i] = float64(i), rng.Float64()
	}
	if r := spearman(a, b); math.Abs(r) > 0.06 {
		t.Errorf("independent: %v", r)
	}
}

// The line as the waiting room forms it: early joiners in a random order, admitted in rounds
// (ties), the rest still waiting in that order; late joiners behind them in order of joining.
func lineOf(rng *rand.Rand, early, late, admitted, perRound int) []lineEntry {
	t0 := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	es := make([]lineEntry, early+late)
	for i := range es {
		es[i] = lineEntry{Late: i >= early, Joined: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	order := rng.Perm(early) // the room's draw: order[k] is the k-th early joiner in line
	for i := range late {
		order = append(order, early+i)
	}
	for k, who := range order {
		if k < admitted {
			es[who].Admitted = t0.Add(time.Hour + time.Duration(k/perRound)*250*time.Millisecond)
		} else {
			es[who].Position = int64(k - admitted + 1)
		}
	}
	return es
}

func TestAdmissionRate(t *testing.T) {
	// 400 admitted, 5 a round every 250 ms: 1,200 a minute.
	if r, ok := admissionRate(lineOf(rand.New(rand.NewPCG(1, 2)), 4000, 500, 400, 5)); !ok || math.Abs(r-1200) > 1e-9 {
		t.Errorf("rate %v %v, want 1200", r, ok)
	}
	if _, ok := admissionRate(lineOf(rand.New(rand.NewPCG(1, 2)), 10, 0, 3, 5)); ok {
		t.Error("a rate from one instant")
	}
}

func TestLineCorrelations(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ea, e, l := lineCorrelations(lineOf(rng, 4000, 500, 400, 5))
	if ea.N != 400 || e.N != 4000 || l.N != 500 {
		t.Fatalf("sizes %d %d %d", ea.N, e.N, l.N)
	}
	if math.Abs(e.Rho) > 0.1 || math.Abs(ea.Rho) > 0.2 {
		t.Errorf("early joiners: %v (admitted %v), want near 0", e, ea)
	}
	if math.Abs(l.Rho-1) > 1e-9 {
		t.Errorf("late joiners: %v, want 1", l)
	}
	// A room that kept the order of joining: 1 for the early joiners too, ties of a round
	// aside.
	es := lineOf(rng, 1000, 0, 1000, 4)
	slices.SortFunc(es, func(a, b lineEntry) int { return a.Admitted.Compare(b.Admitted) })
	for i := range es {
		es[i].Joined = time.Unix(int64(i), 0)
	}
	if ea, _, l := lineCorrelations(es); ea.Rho < 0.99 || l.N != 0 || l.defined() || l.String() != "n/a (n=0)" {
		t.Errorf("in order: %v, late %v", ea, l)
	}
	// Buyers never seen in the line are left out.
	if _, e, _ := lineCorrelations([]lineEntry{{Joined: time.Unix(1, 0)}, {Joined: time.Unix(2, 0), Position: 1}}); e.N != 1 || e.defined() {
		t.Errorf("left out: %v", e)
	}
}

func TestOnsaleReport(t *testing.T) {
	open := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	resp := func(status int, at time.Duration, dur time.Duration) Resp {
		return Resp{Status: status, Start: open.Add(at), End: open.Add(at + dur)}
	}
	o := onsaleOutcome{
		Tickets: 2, Open: open, LastWin: open.Add(4 * time.Second),
		Entries: lineOf(rand.New(rand.NewPCG(5, 6)), 90, 10, 2, 1),
		Joins:   NewRecorder(), Lookups: NewRecorder(), Listings: NewRecorder(), Orders: NewRecorder(),
		Accepted: NewRecorder(), Snapshot: NewRecorder(),
		Holds: holdCheck{doubleTickets: 1},
	}
	for i := range 10 {
		o.Lookups.Add(resp(http.StatusOK, time.Duration(i)*time.Second/2, 10*time.Millisecond))
	}
	o.Lookups.Add(resp(http.StatusServiceUnavailable, 5*time.Second, time.Millisecond))
	for i, st := range []int{http.StatusCreated, http.StatusConflict, http.StatusCreated} {
		r := resp(st, time.Duration(i+1)*time.Second, time.Duration(100*(i+1))*time.Millisecond)
		o.Orders.Add(r)
		if st == http.StatusCreated {
			o.Accepted.Add(r)
		}
	}
	res := newResult("onsale", "onsale")
	o.report(res)
	metric := func(name string) (float64, bool) {
		for _, m := range res.Metrics {
			if m.Name == name {
				return m.Value, true
			}
		}
		return 0, false
	}
	if v, _ := metric("orders accepted (201)"); v != 2 {
		t.Errorf("accepted %v", v)
	}
	if v, _ := metric("time from the opening to sold out"); v != 4 {
		t.Errorf("sell-out %v", v)
	}
	if v, _ := metric("orders/s from the opening to the last 201"); v != 0.5 {
		t.Errorf("orders/s %v", v)
	}
	if v, _ := metric("admissions a minute, first to last pass"); v != 240 { // 2, 250 ms apart
		t.Errorf("admissions a minute %v", v)
	}
	if v, _ := metric("queue look-ups/s"); v != 2.2 { // 11 in 5.001 s
		t.Errorf("look-ups/s %v", v)
	}
	if v, ok := metric("rank correlation, admission vs joining: late joiners"); !ok || v != 1 {
		t.Errorf("late rho %v %v", v, ok)
	}
	if _, ok := metric("rank correlation, admission vs joining: early joiners admitted"); !ok {
		t.Error("no correlation of the admitted early joiners")
	}
	checks := map[string]Check{}
	for _, c := range res.Checks {
		checks[c.Name] = c
	}
	for name, want := range map[string]struct {
		ok, invariant bool
		got           string
	}{
		"5xx answers":                            {false, true, "1"},
		"p99 POST /api/orders (admitted buyers)": {false, false, "300ms"},
		"tickets sold":                           {true, false, "2"},
		"tickets held by >1 live order (tickets view vs orders view)": {false, true, "1"},
		"tickets with more than one 201":                              {true, true, "0"},
		"rank correlation of the late joiners (order of joining)":     {true, false, "1.000 (n=10)"},
	} {
		c, ok := checks[name]
		if !ok || c.OK != want.ok || c.Invariant != want.invariant || c.Got != want.got {
			t.Errorf("check %q = %+v, want %+v", name, c, want)
		}
	}
	rep := &Report{Started: open, Results: []*Result{res}}
	var buf strings.Builder
	rep.PrintTable(&buf)
	for _, want := range []string{"ONSALE", "queue look-ups/s", "invariant 5xx answers", "1 (want 0): FAIL", "latency POST /api/orders (admitted buyers, all)", "200:10 503:1"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table without %q:\n%s", want, buf.String())
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("JSON: %v", err)
	}

	// Nobody late, nobody admitted: no NaN reaches the JSON, and no late target.
	o.Entries = []lineEntry{{Joined: open, Position: 1}}
	res = newResult("onsale", "onsale")
	o.report(res)
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("JSON: %v", err)
	}
	for _, c := range res.Checks {
		if strings.Contains(c.Name, "late joiners") {
			t.Errorf("late check without late joiners: %+v", c)
		}
	}
}

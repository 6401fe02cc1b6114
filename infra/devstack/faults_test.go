//go:build cluster

package main

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing/common/apiclient"
	"ticketing/common/events"
	"ticketing/common/testkit"
)

// Timings of the fault runs: short, so that orders expire during the faults.
const (
	faultWindow        = 5 * time.Second // EXPIRATION_WINDOW
	faultSweepInterval = time.Second     // SWEEP_INTERVAL
	faultSweepGrace    = 3 * time.Second // SWEEP_GRACE
	// faultLateSlack is how late past expiresAt + SWEEP_GRACE + SWEEP_INTERVAL an
	// order.cancelled may be published: the relay's flush on a 2-core machine under the
	// cluster's elections and the traffic.
	faultLateSlack = 20 * time.Second
)

// TestClusterFaults runs the platform as in `make run-services` (each service its own
// process, two replicas of orders and tickets) on a 3-node JetStream cluster with streams
// of 3 replicas and on a Redis primary and replica behind 3 Sentinels, and breaks them under
// traffic: the leader of each stream killed in turn, a Redis failover, then both at once.
// After each fault every order settles (complete or cancelled) in time, no ticket is held
// twice, and every event published is consumed by every consumer of its subject.
//
// With FAULTS_SINGLE=1 the same faults hit the single-node setup instead: one NATS server
// (killed and restarted: an outage) and one Redis (restarted empty: its jobs lost).
func TestClusterFaults(t *testing.T) {
	began := time.Now()
	var e *engines
	if os.Getenv("FAULTS_SINGLE") == "1" {
		e = singleEngines(t)
	} else {
		e = clusterEngines(t)
	}
	env := map[string]string{
		"EXPIRATION_WINDOW": faultWindow.String(), "SWEEP_INTERVAL": faultSweepInterval.String(),
		"SWEEP_GRACE": faultSweepGrace.String(), "HOLD_GRACE": "10s",
	}
	maps.Copy(env, e.env)
	dir := t.TempDir()
	s := startStack(t, Options{
		DataDir: dir, Multi: true, Replicas: 2,
		NATSURL: e.nats.URL(), RedisAddr: e.redisAddr, RedisDB: e.redisDB, LogLevel: "debug", Env: env,
	})
	logDir := filepath.Join(dir, "logs")
	topo := events.Topology{Prefix: s.Prefix}
	for _, st := range []string{events.StreamTickets, events.StreamOrders, events.StreamExpiration, events.StreamPayments, events.StreamDeadLetter} {
		e.streams = append(e.streams, topo.Stream(st))
	}
	c := newClient(t, s.URL)
	w := watchBus(t, s.NATSURL, s.Prefix)
	seller := c.signup(fmt.Sprintf("cluster-seller-%d@example.com", time.Now().UnixNano()))
	buyers := c.users("cluster", 6)

	var totalOrders, totalEvents int
	scenario := func(name string, fault func(t *testing.T, tr *traffic)) {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			c.t = t
			tr := startTraffic(t, c, seller, buyers)
			fault(t, tr)
			tr.waitPlaced(t, tr.placed.Load()+3, 60*time.Second) // some traffic after the repair too
			orders := tr.stop()
			checkOrders(t, c, w, orders)
			n := checkConsumed(t, e.nats.URL(), topo, w, logDir)
			totalOrders += len(orders)
			totalEvents = n
			t.Logf("%s: %d orders (%d paid), %d events on the bus so far, a new ticket orderable within %s, %s", name,
				len(orders), countPaid(orders), n, tr.slowest.split(w), time.Since(start).Round(time.Second))
		})
	}

	// Each restore also runs if the scenario fails, so that the next one starts whole.
	scenario("JetStream leader of each stream killed in turn", func(t *testing.T, tr *traffic) {
		for _, st := range e.streams[:4] {
			restore := once(e.killLeader(t, st))
			defer restore()
			e.whileNATSDown(t, tr, 2)
			restore()
		}
	})
	scenario("Redis failover through Sentinel", func(t *testing.T, tr *traffic) {
		tr.waitPlaced(t, tr.placed.Load()+3, 60*time.Second)
		restore := once(e.failRedis(t))
		defer restore()
		tr.waitPlaced(t, tr.placed.Load()+3, 60*time.Second)
		restore()
	})
	scenario("both at once", func(t *testing.T, tr *traffic) {
		tr.waitPlaced(t, tr.placed.Load()+3, 60*time.Second)
		restoreNATS := once(e.killLeader(t, e.streams[1])) // ORDERS
		defer restoreNATS()
		restoreRedis := once(e.failRedis(t))
		defer restoreRedis()
		e.whileNATSDown(t, tr, 3)
		restoreNATS()
		restoreRedis()
	})

	var bad []string
	for route, st := range c.statuses {
		for code, n := range st {
			if code >= 500 { // no service process is killed here: not even the gateway's 502
				bad = append(bad, fmt.Sprintf("%s answered %d %d times", route, code, n))
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
	t.Logf("cluster faults: %d leader kills, %d Redis failovers, %d orders, %d events, %s",
		e.kills, e.failovers, totalOrders, totalEvents, time.Since(began).Round(time.Second))
}

// engines are the NATS and Redis under test and how to break them.
type engines struct {
	nats             *testkit.NATSCluster
	redisAddr        string // for the dev stack's check that Redis answers
	redisDB          int
	env              map[string]string // the services' settings for them
	streams          []string          // the stack's streams, filled in once it runs
	kills, failovers int
	killLeader       func(t *testing.T, stream string) (restore func())
	failRedis        func(t *testing.T) (restore func())
	// whileNATSDown lets the fault last: n more orders placed on a cluster, which keeps
	// serving; a few seconds on a single server, which is away (no order can be placed
	// while the orders service cannot learn of new tickets).
	whileNATSDown func(t *testing.T, tr *traffic, n int64)
}

// once makes restore run at most once.
func once(restore func()) func() {
	var o sync.Once
	return func() { o.Do(restore) }
}

// clusterEngines: 3 JetStream servers, streams of 3 replicas; Redis behind Sentinel.
func clusterEngines(t *testing.T) *engines {
	cluster := testkit.StartNATSCluster(t, 3)
	rs := testkit.StartRedisSentinel(t)
	e := &engines{nats: cluster, redisAddr: rs.Primary(),
		env: map[string]string{"STREAM_REPLICAS": "3", "REDIS_ADDR": ""}} // Sentinel only
	maps.Copy(e.env, rs.Env())
	e.killLeader = func(t *testing.T, stream string) func() {
		leader := cluster.StreamLeader(stream)
		node := cluster.Node(leader)
		node.Kill()
		e.kills++
		cluster.WaitStreamsCurrent(time.Minute, leader, e.streams...) // every stream led by the two left
		t.Logf("killed %s, leader of %s; the others elected", leader, stream)
		return func() {
			cluster.Restart(node)
			cluster.WaitStreamsCurrent(90*time.Second, "", e.streams...)
		}
	}
	e.failRedis = func(t *testing.T) func() {
		old := rs.Primary()
		now := rs.Failover(time.Minute)
		e.failovers++
		t.Logf("Redis primary %s killed; Sentinel promoted %s", old, now)
		return func() { rs.Restore(time.Minute) }
	}
	e.whileNATSDown = func(t *testing.T, tr *traffic, n int64) {
		tr.waitPlaced(t, tr.placed.Load()+n, 60*time.Second)
	}
	return e
}

// singleEngines: one NATS server, one Redis.
func singleEngines(t *testing.T) *engines {
	server := testkit.StartNATSCluster(t, 1)
	rs := testkit.Redis(t)
	e := &engines{nats: server, redisAddr: rs.Addr, redisDB: rs.DB, env: map[string]string{"STREAM_REPLICAS": "1"}}
	e.killLeader = func(t *testing.T, stream string) func() {
		node := server.Nodes[0]
		node.Kill()
		e.kills++
		return func() {
			server.Restart(node)
			server.WaitReady(time.Minute)
			server.WaitStreamsCurrent(time.Minute, "", e.streams...)
		}
	}
	e.failRedis = func(t *testing.T) func() {
		rs.Restart() // empty again: the jobs are lost, as with a failover to a replica behind
		e.failovers++
		return func() {}
	}
	e.whileNATSDown = func(*testing.T, *traffic, int64) {
		// An outage must last to mean anything; nothing to wait for while the server is down.
		time.Sleep(3 * time.Second)
	}
	return e
}

type placedOrder struct {
	id, ticket string
	buyer      user
	expiresAt  time.Time
	paid       bool      // the payment was accepted (201)
	rival      string    // an order of another buyer for the same ticket, accepted (201): only if this one ended first
	rivalAt    time.Time // when the rival was asked for
}

// traffic places orders from a few workers until stopped: each creates a ticket, orders it,
// lets a second buyer try the same ticket, and pays every other order.
type traffic struct {
	t      *testing.T
	stopCh chan struct{}
	wg     sync.WaitGroup
	placed atomic.Int64

	mu      sync.Mutex
	orders  []placedOrder
	errs    []string
	slowest orderable // the ticket that took the longest to be orderable
}

// orderable is how long a new ticket took to be orderable: its ticket.created published,
// then delivered to orders.
type orderable struct {
	ticket           string
	created, ordered time.Time // the ticket's 201, the order's first answer that was not a 404
}

func (o orderable) took() time.Duration { return o.ordered.Sub(o.created) }

// split tells the wait, split at the publication of the ticket's ticket.created as w saw it.
func (o orderable) split(w *busWatch) string {
	w.mu.Lock()
	at, ok := w.createdAt[o.ticket]
	w.mu.Unlock()
	if !ok {
		return o.took().Round(100*time.Millisecond).String() + " (its ticket.created not seen)"
	}
	return fmt.Sprintf("%s (ticket.created published after %s, delivered to orders %s later)",
		o.took().Round(100*time.Millisecond), at.Sub(o.created).Round(100*time.Millisecond),
		o.ordered.Sub(at).Round(100*time.Millisecond))
}

func startTraffic(t *testing.T, c *client, seller user, buyers []user) *traffic {
	tr := &traffic{t: t, stopCh: make(chan struct{})}
	for wk := range 3 {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-tr.stopCh:
					return
				default:
				}
				tr.one(c, seller, buyers[(2*wk)%len(buyers)], buyers[(2*wk+1)%len(buyers)], i%2 == 0)
			}
		}()
	}
	return tr
}

func (tr *traffic) fail(format string, args ...any) {
	tr.mu.Lock()
	tr.errs = append(tr.errs, fmt.Sprintf(format, args...))
	tr.mu.Unlock()
}

func (tr *traffic) one(c *client, seller, buyer, rival user, pay bool) {
	r := c.do("POST", "/api/tickets", seller.Token, map[string]any{"title": "Cluster", "price": 12})
	if r.Status != 201 {
		tr.fail("create ticket: %d %s", r.Status, r.Body)
		return
	}
	var tk apiclient.Ticket
	r.JSON(&tk)
	wait := orderable{ticket: tk.ID, created: time.Now()}
	r = c.orderWhenReady(buyer, tk.ID)
	wait.ordered = time.Now()
	tr.mu.Lock()
	if wait.took() > tr.slowest.took() {
		tr.slowest = wait
	}
	tr.mu.Unlock()
	if r.Status != 201 {
		tr.fail("order: %d %s", r.Status, r.Body)
		return
	}
	var o apiclient.Order
	r.JSON(&o)
	p := placedOrder{id: o.ID, ticket: tk.ID, buyer: buyer, expiresAt: o.ExpiresAt}
	p.rivalAt = time.Now()
	switch r := c.do("POST", "/api/orders", rival.Token, map[string]string{"ticketId": tk.ID}); r.Status {
	case 409:
	case 201:
		p.rival = r.Field("id")
	default:
		tr.fail("rival order: %d %s", r.Status, r.Body)
	}
	if pay {
		switch r := c.do("POST", "/api/payments", buyer.Token, map[string]string{"orderId": o.ID, "token": "tok_visa"}); {
		case r.Status == 201:
			p.paid = true
		case r.Status >= 500 || r.Status == 0:
			tr.fail("payment: %d %s", r.Status, r.Body)
		}
	}
	tr.mu.Lock()
	tr.orders = append(tr.orders, p)
	tr.mu.Unlock()
	tr.placed.Add(1)
}

// waitPlaced waits until n orders were placed in all: traffic went on through the fault.
func (tr *traffic) waitPlaced(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%d orders placed", n), func() bool { return tr.placed.Load() >= n })
}

func (tr *traffic) stop() []placedOrder {
	close(tr.stopCh)
	tr.wg.Wait()
	for _, e := range tr.errs {
		tr.t.Error(e)
	}
	return tr.orders
}

// checkOrders waits until every order settles and checks the invariants.
func checkOrders(t *testing.T, c *client, w *busWatch, orders []placedOrder) {
	t.Helper()
	deadline := faultWindow + faultSweepGrace + faultSweepInterval + faultLateSlack + 30*time.Second
	final := map[string]apiclient.Order{}
	for _, o := range orders {
		eventually(t, deadline, "order "+o.id+" settles", func() bool {
			v := c.order(o.buyer, o.id)
			final[o.id] = v
			return v.Status == "complete" || v.Status == "cancelled"
		})
	}
	paidLate := 0
	for _, o := range orders {
		v := final[o.id]
		if o.paid && v.Status != "complete" {
			paidLate++ // the payment's event came after the expiry's: refunded, as designed
		}
		// The ticket shows the one order that holds it: the complete one, else none.
		eventually(t, 30*time.Second, "ticket "+o.ticket+" agrees with its order", func() bool {
			tk := c.ticket(o.ticket)
			held := tk.OrderID != nil && *tk.OrderID != ""
			switch {
			case v.Status == "complete":
				return held && *tk.OrderID == o.id
			case o.rival != "":
				return !held || *tk.OrderID == o.rival
			}
			return !held
		})
		if v.Status == "cancelled" {
			var at time.Time
			eventually(t, 30*time.Second, "order.cancelled of "+o.id+" on the bus", func() bool {
				w.mu.Lock()
				defer w.mu.Unlock()
				var ok bool
				at, ok = w.cancelledAt[o.id]
				return ok
			})
			if at.Before(o.expiresAt.Add(-50 * time.Millisecond)) {
				t.Errorf("order %s cancelled at %s, before its expiresAt %s", o.id, at.Format(time.RFC3339Nano), o.expiresAt.Format(time.RFC3339Nano))
			}
			if late := o.expiresAt.Add(faultSweepGrace + faultSweepInterval + faultLateSlack); at.After(late) {
				t.Errorf("order %s cancelled at %s, %s past its expiresAt", o.id, at.Format(time.RFC3339Nano), at.Sub(o.expiresAt))
			}
		}
		if o.rival != "" { // a second order for a held ticket: only once the first had ended
			w.mu.Lock()
			at, ok := w.cancelledAt[o.id]
			w.mu.Unlock()
			if v.Status != "cancelled" || !ok || at.After(o.rivalAt) {
				t.Errorf("ticket %s held twice: orders %s (%s) and %s", o.ticket, o.id, v.Status, o.rival)
			}
		}
	}
	if paidLate > 0 {
		t.Logf("%d orders paid (201) expired before their payment event was applied, and were refunded", paidLate)
	}
}

func countPaid(orders []placedOrder) int {
	n := 0
	for _, o := range orders {
		if o.paid {
			n++
		}
	}
	return n
}

var (
	deliveredLine = regexp.MustCompile(`msg="event delivered"`)
	attrConsumer  = regexp.MustCompile(` consumer=(\S+)`)
	attrEventID   = regexp.MustCompile(` event_id=(\S+)`)
	attrOutcome   = regexp.MustCompile(` outcome=(\S+)`)
)

// checkConsumed waits until every durable consumer has handled all it was given, then checks,
// by event id in the services' debug lines, that each consumer acknowledged every event of
// its subject that was published, and nothing else; redeliveries of an event already
// acknowledged (an acknowledgement lost with a leader) are counted and logged. It returns
// the number of events published so far.
func checkConsumed(t *testing.T, url string, topo events.Topology, w *busWatch, logDir string) int {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	consumers := map[string]string{} // durable -> subject
	eventually(t, 2*time.Minute, "every consumer caught up", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, st := range []string{events.StreamTickets, events.StreamOrders, events.StreamExpiration, events.StreamPayments} {
			s, err := js.Stream(ctx, topo.Stream(st))
			if err != nil {
				return false
			}
			l := s.ListConsumers(ctx)
			for ci := range l.Info() {
				if ci.Config.Durable == "" {
					continue // the test's own ordered consumers
				}
				if ci.NumPending > 0 || ci.NumAckPending > 0 {
					return false
				}
				consumers[ci.Name] = topo.Unprefixed(ci.Config.FilterSubject)
			}
			if l.Err() != nil {
				return false
			}
		}
		return true
	})

	// A handler writes its line just after its acknowledgement: read the logs again for a
	// while before calling an event unacknowledged.
	var acked map[string]map[string]int
	var deadLettered, redelivered int
	var problems []string
	for deadline := time.Now().Add(15 * time.Second); ; {
		acked, deadLettered = scanDeliveries(t, logDir)
		problems, redelivered = unacknowledged(w, consumers, acked)
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second) // the lines are written by other processes
	}
	for _, p := range problems {
		t.Error(p)
	}
	if deadLettered > 0 {
		t.Errorf("%d events dead-lettered", deadLettered)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	total := 0
	for _, ids := range w.seen {
		total += len(ids)
	}
	t.Logf("%d consumers acknowledged each of the %d events of their subjects; %d redeliveries of an event already acknowledged",
		len(consumers), total, redelivered)
	return total
}

// scanDeliveries counts, from the services' logs, the acknowledgements of each event id by
// each consumer, and the events dead-lettered.
func scanDeliveries(t *testing.T, logDir string) (acked map[string]map[string]int, deadLettered int) {
	acked = map[string]map[string]int{} // consumer -> event id -> acknowledgements
	entries, _ := os.ReadDir(logDir)
	for _, e := range entries {
		f, err := os.Open(filepath.Join(logDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, `msg="event dead-lettered"`) {
				deadLettered++
			}
			if !deliveredLine.MatchString(line) {
				continue
			}
			cons, id, out := attrConsumer.FindStringSubmatch(line), attrEventID.FindStringSubmatch(line), attrOutcome.FindStringSubmatch(line)
			if cons == nil || id == nil || out == nil || out[1] != "ack" {
				continue
			}
			if acked[cons[1]] == nil {
				acked[cons[1]] = map[string]int{}
			}
			acked[cons[1]][id[1]]++
		}
		_ = f.Close()
	}
	return acked, deadLettered
}

// unacknowledged lists the events on the bus a consumer of their subject never acknowledged,
// and the acknowledgements of events never on the bus; it also counts the redeliveries of
// events already acknowledged.
func unacknowledged(w *busWatch, consumers map[string]string, acked map[string]map[string]int) (problems []string, redelivered int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for durable, subject := range consumers {
		for id := range w.seen[subject] {
			switch n := acked[durable][id]; {
			case n == 0:
				problems = append(problems, fmt.Sprintf("consumer %s never acknowledged %s %s", durable, subject, id))
			case n > 1:
				redelivered += n - 1
			}
		}
		for id := range acked[durable] {
			if !w.seen[subject][id] {
				problems = append(problems, fmt.Sprintf("consumer %s acknowledged %s, which is no %s on the bus", durable, id, subject))
			}
		}
	}
	sort.Strings(problems)
	return problems, redelivered
}

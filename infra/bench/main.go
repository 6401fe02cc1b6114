// Command bench is the platform's load harness: it drives the REST API of docs/API.md with the
// on-sale scenarios (distinct, rush, propagation, listing, expiry, onsale), prints a progress line while
// each runs and a summary table at the end, and writes the summary as JSON under
// infra/bench/results/.
//
// By default it starts the platform itself: infra/devstack in multi-process mode (each
// service its own process, two replicas of orders and tickets, NATS and Redis on
// 127.0.0.1) with the MongoDB stand-in on its PostgreSQL backend, on a fresh database. The
// order-expiry window is a per-deployment setting (EXPIRATION_WINDOW), so the expiry
// scenario gets a stack of its own with a short window, and the other scenarios run on a
// stack with the default 15 minutes. With -url it drives a platform that is already up.
//
//	make bench
//	make bench BENCH_FLAGS='-scenarios rush -rush-rounds 5'
//	cd infra/bench && GOWORK=off go run . -h
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Config is every flag.
type Config struct {
	URL          string
	BackendLabel string
	Scenarios    []string

	DistinctClients, DistinctOrders        int
	RushBuyers, RushTickets, RushRounds    int
	PropTickets, PropPayments              int
	Poll                                   time.Duration
	ExpiryOrders, ExpiryBuyers             int
	ExpiryWindow, ExpiryDeadline           time.Duration
	ExpiryConcurrency, ExpiryPollers       int
	ExpiryPollPause                        time.Duration
	ListingReaders, ListingBuyers          int
	ListingTickets                         int
	ListingPhase                           time.Duration
	GrowthOrders, GrowthTickets            int
	OnsaleBuyers, OnsaleTickets            int
	OnsaleAdmit, OnsaleConns               int
	OnsaleLate                             float64
	OnsaleLead, OnsaleLateSpread           time.Duration
	OnsaleDeadline                         time.Duration
	OnsalePollMin, OnsalePollMax           time.Duration
	SetupConcurrency, SignupConcurrency    int
	Settle, Timeout                        time.Duration
	Postgres, Backend, Addr, StackLogLevel string
	BasePort                               int
	Env                                    multiFlag
	Results                                string
	Keep, Strict                           bool
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// defaultScenarios run when -scenarios is not given; growth, meant for a platform that is
// already running (-url), runs only when named.
var (
	defaultScenarios = []string{"distinct", "rush", "propagation", "listing", "expiry", "onsale"}
	allScenarios     = append(slices.Clone(defaultScenarios), "growth")
)

func parseFlags(args []string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&c.URL, "url", "", "base URL of a platform that is already running (default: start dev stacks)")
	fs.StringVar(&c.BackendLabel, "backend-label", "unknown (given with -url)", "the MongoDB behind -url, for the report")
	scen := fs.String("scenarios", strings.Join(defaultScenarios, ","), "scenarios to run, comma-separated")
	fs.IntVar(&c.DistinctClients, "distinct-clients", 32, "distinct: concurrent buyers")
	fs.IntVar(&c.DistinctOrders, "distinct-orders", 1000, "distinct: orders in all (one fresh ticket each)")
	fs.IntVar(&c.RushBuyers, "rush-buyers", 200, "rush: buyers released at once")
	fs.IntVar(&c.RushTickets, "rush-tickets", 20, "rush: tickets they all want")
	fs.IntVar(&c.RushRounds, "rush-rounds", 3, "rush: rounds, each on fresh tickets")
	fs.IntVar(&c.PropTickets, "prop-tickets", 100, "propagation: tickets created and ordered, one at a time")
	fs.IntVar(&c.PropPayments, "prop-payments", 100, "propagation: of those orders, how many are paid")
	fs.DurationVar(&c.Poll, "poll", 5*time.Millisecond, "propagation: polling interval")
	fs.IntVar(&c.ExpiryOrders, "expiry-orders", 2000, "expiry: orders left to expire")
	fs.IntVar(&c.ExpiryBuyers, "expiry-buyers", 20, "expiry: buyers placing them (each list is polled)")
	fs.DurationVar(&c.ExpiryWindow, "expiry-window", 20*time.Second, "expiry: EXPIRATION_WINDOW of the expiry stack")
	fs.DurationVar(&c.ExpiryDeadline, "expiry-deadline", 90*time.Second, "expiry: an order still live this long after its expiresAt counts as not expired")
	fs.IntVar(&c.ExpiryConcurrency, "expiry-concurrency", 32, "expiry: concurrent order requests")
	fs.IntVar(&c.ExpiryPollers, "expiry-pollers", 2, "expiry: concurrent list polls")
	fs.DurationVar(&c.ExpiryPollPause, "expiry-poll-pause", 250*time.Millisecond, "expiry: pause between a poller's list polls when the bus dates the expiries (a stack of our own)")
	fs.IntVar(&c.ListingReaders, "listing-readers", 64, "listing: concurrent readers of GET /api/tickets")
	fs.IntVar(&c.ListingBuyers, "listing-buyers", 16, "listing: concurrent buyers ordering meanwhile")
	fs.IntVar(&c.ListingTickets, "listing-tickets", 1000, "listing: tickets listed for the buyers (and the readers)")
	fs.DurationVar(&c.ListingPhase, "listing-phase", 10*time.Second, "listing: length of each phase (plain GETs, then If-None-Match)")
	fs.IntVar(&c.GrowthOrders, "growth-orders", 500, "growth: orders of each of the two measured rounds (one fresh ticket each)")
	fs.IntVar(&c.GrowthTickets, "growth-tickets", 2000, "growth: tickets listed and ordered between the rounds")
	fs.IntVar(&c.OnsaleBuyers, "onsale-buyers", 10000, "onsale: buyers in the event's waiting room")
	fs.IntVar(&c.OnsaleTickets, "onsale-tickets", 1000, "onsale: tickets of the event (at most 10000)")
	fs.Float64Var(&c.OnsaleLate, "onsale-late", 0.1, "onsale: share of the buyers who join after the sale opened")
	fs.IntVar(&c.OnsaleAdmit, "onsale-admit", 600, "onsale: the event's admitPerMinute (buyers the waiting room admits a minute)")
	fs.DurationVar(&c.OnsaleLead, "onsale-lead", 30*time.Second, "onsale: from creating the event to its opening (the early joiners join meanwhile)")
	fs.DurationVar(&c.OnsaleLateSpread, "onsale-late-spread", 10*time.Second, "onsale: the late joiners join evenly over this long after the opening")
	fs.DurationVar(&c.OnsaleDeadline, "onsale-deadline", 4*time.Minute, "onsale: the sale ends this long after the opening, sold out or not")
	fs.DurationVar(&c.OnsalePollMin, "onsale-poll-min", 500*time.Millisecond, "onsale: a buyer looks at its place again after the room's estimated wait, but at least this long")
	fs.DurationVar(&c.OnsalePollMax, "onsale-poll-max", 10*time.Second, "onsale: ... and at most this long")
	fs.IntVar(&c.OnsaleConns, "onsale-conns", 128, "onsale: waiting-room requests in flight at most (the buyers' joins and look-ups)")
	fs.IntVar(&c.SetupConcurrency, "setup-concurrency", 16, "concurrent requests while creating tickets and checking")
	fs.IntVar(&c.SignupConcurrency, "signup-concurrency", 4, "concurrent sign-ups (password hashing is expensive)")
	fs.DurationVar(&c.Settle, "settle", time.Minute, "rush: how long the tickets view may take to agree with the orders view")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Minute, "give up after this long")
	fs.StringVar(&c.Postgres, "postgres", "postgres://postgres@127.0.0.1:5432/postgres", "PostgreSQL where each stack gets a fresh database")
	fs.StringVar(&c.Backend, "mongo-backend", "postgresql", "stand-in backend of the stacks: postgresql or sqlite")
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:4300", "gateway address of the stacks")
	fs.IntVar(&c.BasePort, "base-port", 4301, "first service port of the stacks (metrics at port+100); 0 picks free ports and turns metrics off")
	fs.StringVar(&c.StackLogLevel, "stack-log-level", "info", "services' log level")
	fs.Var(&c.Env, "env", "KEY=VALUE for every service of every stack (repeatable)")
	fs.StringVar(&c.Results, "results", "", "directory of the results (default infra/bench/results)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the stacks' data directories, databases and streams")
	fs.BoolVar(&c.Strict, "strict", false, "exit 1 when a performance target is missed, not only when an invariant fails")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for _, s := range strings.Split(*scen, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			return c, fmt.Errorf("unknown scenario %q (want some of %s)", s, strings.Join(allScenarios, ","))
		}
		c.Scenarios = append(c.Scenarios, s)
	}
	switch {
	case len(c.Scenarios) == 0:
		return c, errors.New("no scenario")
	case c.DistinctClients < 1 || c.DistinctOrders < 1 || c.RushBuyers < 1 || c.RushTickets < 1 || c.RushRounds < 1 ||
		c.PropTickets < 1 || c.ExpiryOrders < 1 || c.ExpiryBuyers < 1 || c.ExpiryConcurrency < 1 || c.ExpiryPollers < 1 ||
		c.SetupConcurrency < 1 || c.SignupConcurrency < 1 || c.ListingReaders < 1 || c.ListingBuyers < 1 || c.ListingTickets < 1 || c.GrowthOrders < 1 || c.GrowthTickets < 1 ||
		c.OnsaleBuyers < 1 || c.OnsaleTickets < 1 || c.OnsaleAdmit < 1 || c.OnsaleConns < 1:
		return c, errors.New("counts must be at least 1")
	case c.OnsaleTickets > 10000 || c.OnsaleAdmit > 100000:
		return c, errors.New("onsale: an event has at most 10000 tickets and admits at most 100000 buyers a minute")
	case c.OnsaleLate < 0 || c.OnsaleLate > 1:
		return c, errors.New("onsale: -onsale-late is a share from 0 to 1")
	case c.OnsalePollMin <= 0 || c.OnsalePollMax < c.OnsalePollMin || c.OnsaleLead <= 0 || c.OnsaleDeadline <= 0:
		return c, errors.New("onsale: durations must be above 0, and -onsale-poll-max at least -onsale-poll-min")
	case c.ExpiryOrders/c.ExpiryBuyers > 500:
		return c, errors.New("expiry: at most 500 orders per buyer (one page of GET /api/orders)")
	}
	return c, nil
}

// Bench runs the scenarios.
type Bench struct {
	cfg            Config
	runID          string
	root           string
	outDir         string
	report         *Report
	sampler        *CPUSampler
	client         *Client
	stack          *Stack // the current stack; nil with -url
	ticketsCreated int    // on the current stack
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	code, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, cfg Config) (int, error) {
	root, err := repoRoot()
	if err != nil {
		return 2, err
	}
	started := time.Now()
	b := &Bench{cfg: cfg, root: root, runID: started.UTC().Format("20060102t150405")}
	if cfg.Results == "" {
		cfg.Results = filepath.Join(root, "infra", "bench", "results")
	}
	b.outDir = filepath.Join(cfg.Results, b.runID)
	b.report = &Report{
		Started: started,
		Command: strings.Join(os.Args, " "),
		Machine: Machine{Cores: runtime.NumCPU(), CPU: cpuModel(), GoVersion: runtime.Version(),
			OS: runtime.GOOS + "/" + runtime.GOARCH, LoadBefore: loadAvg(), MemTotalMiB: memTotalMiB()},
		Flags: map[string]string{},
	}
	fmt.Fprintf(os.Stderr, "bench: %d cores, %s, load average %s; results in %s\n",
		b.report.Machine.Cores, b.report.Machine.GoVersion, strings.Join(b.report.Machine.LoadBefore[:], " "), b.outDir)
	b.sampler = &CPUSampler{roots: func() []int {
		if pid := b.stack.Pid(); pid != 0 {
			return []int{pid}
		}
		return nil
	}}

	type phase struct {
		name      string
		env       []string
		scenarios []string
	}
	phases := []phase{
		{name: "main", scenarios: []string{"distinct", "rush", "propagation", "listing"}},
		{name: "expiry", env: []string{"EXPIRATION_WINDOW=" + cfg.ExpiryWindow.String()}, scenarios: []string{"expiry"}},
		{name: "growth", scenarios: []string{"growth"}},
		// The buyers of an on-sale are many and post from one address: per-user and
		// per-client rate limits off.
		{name: "onsale", env: []string{"RATE_LIMIT_USER=0", "RATE_LIMIT_CLIENT=0"}, scenarios: []string{"onsale"}},
	}
	if cfg.URL != "" {
		phases = []phase{{name: "given", scenarios: allScenarios}}
	}
	var devstackBin string
	for _, ph := range phases {
		var todo []string
		for _, s := range ph.scenarios {
			if slices.Contains(cfg.Scenarios, s) {
				todo = append(todo, s)
			}
		}
		if len(todo) == 0 {
			continue
		}
		url := cfg.URL
		if url == "" {
			if devstackBin == "" {
				fmt.Fprintln(os.Stderr, "bench: building infra/devstack")
				tmp, err := os.MkdirTemp("", "ticketing-bench-bin-")
				if err != nil {
					return 2, err
				}
				defer os.RemoveAll(tmp)
				if devstackBin, err = buildDevstack(ctx, root, tmp); err != nil {
					return 2, err
				}
			}
			// The bench sends thousands of writes from 127.0.0.1 as a few users: the rate limits
			// of writes are off unless -env sets them.
			env := slices.Concat([]string{"RATE_LIMIT_USER=0", "RATE_LIMIT_CLIENT=0"}, cfg.Env, ph.env)
			fmt.Fprintf(os.Stderr, "bench: starting dev stack %q (multi-process, MongoDB stand-in on %s%s); services build first\n",
				ph.name, cfg.Backend, envNote(env))
			st, err := StartStack(ctx, StackOptions{Name: ph.name, RunID: b.runID, Root: root, DevstackBin: devstackBin,
				Backend: cfg.Backend, AdminURL: cfg.Postgres, Addr: cfg.Addr, BasePort: cfg.BasePort, Env: env,
				LogLevel: cfg.StackLogLevel, LogDir: filepath.Join(b.outDir, "logs"), Keep: cfg.Keep})
			if err != nil {
				return 2, fmt.Errorf("stack %s: %w", ph.name, err)
			}
			fmt.Fprintf(os.Stderr, "bench: stack %q up at %s in %.0fs (MongoDB: %s)\n", ph.name, st.URL, st.Info.Startup, st.Info.Backend)
			b.stack, b.ticketsCreated = st, 0
			b.report.Stacks = append(b.report.Stacks, st.Info)
			url = st.URL
		} else {
			b.report.Stacks = append(b.report.Stacks, StackInfo{Name: ph.name, URL: url, Backend: cfg.BackendLabel})
		}
		b.client = NewClient(url, max(cfg.RushBuyers, cfg.DistinctClients, cfg.ExpiryConcurrency, cfg.SetupConcurrency, cfg.ListingReaders+cfg.ListingBuyers, cfg.OnsaleConns)+32)
		for _, s := range todo {
			b.runScenario(ctx, ph.name, s)
			if ctx.Err() != nil {
				break
			}
		}
		if b.stack != nil {
			fmt.Fprintf(os.Stderr, "bench: stopping dev stack %q\n", ph.name)
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			b.stack.Close(cctx)
			cancel()
			b.report.Stacks[len(b.report.Stacks)-1] = b.stack.Info
			b.stack = nil
		}
		if ctx.Err() != nil {
			break
		}
	}

	b.report.Finished = time.Now()
	b.report.Machine.LoadAfter = loadAvg()
	missed := false
	for _, r := range b.report.Results {
		if r.Err != "" {
			b.report.Failed = true
		}
		for _, c := range r.Checks {
			if !c.OK && c.Invariant {
				b.report.Failed = true
			}
			if !c.OK && !c.Invariant {
				missed = true
			}
		}
	}
	b.report.PrintTable(os.Stdout)
	path, err := b.report.Write(b.outDir)
	if err != nil {
		return 1, err
	}
	fmt.Printf("JSON summary: %s\n", path)
	switch {
	case ctx.Err() != nil:
		return 1, ctx.Err()
	case b.report.Failed:
		return 1, errors.New("an invariant failed or a scenario could not run; see the table")
	case missed && cfg.Strict:
		return 1, errors.New("a performance target was missed (-strict)")
	}
	return 0, nil
}

func envNote(env []string) string {
	if len(env) == 0 {
		return ""
	}
	return ", " + strings.Join(env, " ")
}

// runScenario runs one scenario and adds its result, with its error if any, to the report.
func (b *Bench) runScenario(ctx context.Context, stack, name string) {
	res := newResult(name, stack)
	var dl0 uint64
	var dlErr error
	if b.stack != nil {
		dl0, dlErr = b.stack.DeadLetters(ctx)
	}
	fmt.Fprintf(os.Stderr, "bench: scenario %s\n", name)
	start := time.Now()
	var err error
	switch name {
	case "distinct":
		err = b.distinct(ctx, res)
	case "rush":
		err = b.rush(ctx, res)
	case "propagation":
		err = b.propagation(ctx, res)
	case "listing":
		err = b.listing(ctx, res)
	case "onsale":
		err = b.onsale(ctx, res)
	case "growth":
		err = b.growth(ctx, res)
	case "expiry":
		if b.stack == nil {
			res.note("with -url the window is the platform's own EXPIRATION_WINDOW; orders are followed for at most window + %s", b.cfg.ExpiryDeadline)
		}
		err = b.expiry(ctx, res)
	}
	res.Seconds = round2(time.Since(start).Seconds())
	if err != nil {
		res.Err = err.Error()
		fmt.Fprintf(os.Stderr, "bench: scenario %s failed: %v\n", name, err)
	}
	if b.stack != nil && ctx.Err() == nil {
		b.drain(ctx, res)
	}
	if b.stack != nil && dlErr == nil {
		if dl1, err := b.stack.DeadLetters(ctx); err == nil {
			res.target("events dead-lettered during the scenario", "0", dl1-dl0, dl1 == dl0)
		}
	}
	b.report.Results = append(b.report.Results, res)
}

// drain waits, at most a minute, until the stack's consumers have handled every event the
// scenario caused, and reports how long that took after the scenario's end (target: 10 s).
func (b *Bench) drain(ctx context.Context, res *Result) {
	start := time.Now()
	deadline := start.Add(time.Minute)
	for {
		n, err := b.stack.Backlog(ctx)
		if err != nil {
			res.note("backlog after the scenario not read: %v", err)
			return
		}
		d := time.Since(start)
		if n == 0 {
			res.metric("backlog drained after the scenario in", round2(d.Seconds()), "s")
			res.target("backlog drained after the scenario", "<= 10s", d.Round(10*time.Millisecond).String(), d <= 10*time.Second)
			return
		}
		if time.Now().After(deadline) {
			res.target("backlog drained after the scenario", "<= 10s", fmt.Sprintf("%d events left after %s", n, d.Round(time.Second)), false)
			return
		}
		if sleep(ctx, 100*time.Millisecond) != nil {
			return
		}
	}
}

// repoRoot is the nearest directory above the working directory that holds go.work.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the bench from inside the repository (no go.work found above the working directory)")
		}
		dir = parent
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Command devstack runs the whole ticketing platform on one machine: the services, NATS
// with JetStream, the MongoDB stand-in (or MONGODB_URI), Redis, and a gateway on
// http://localhost:8080 that routes /api/users, /api/tickets, /api/events, /api/orders,
// /api/payments and /api/queue as the ingress does.
//
//	go run ./infra/devstack            # one process, data kept in .devstack/
//	go run ./infra/devstack -clean     # start from empty data
//	go run ./infra/devstack -multi     # each service its own process, two replicas of orders
//	                                   # and tickets, against NATS and Redis on 127.0.0.1
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
)

func signalNotify(c chan os.Signal) { signal.Notify(c, syscall.SIGINT, syscall.SIGTERM) }

func main() {
	if len(os.Args) == 4 && os.Args[1] == "-serve-nats" {
		if err := serveNATS(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "devstack nats:", err)
			os.Exit(1)
		}
		return
	}
	var o Options
	var envFlags multiFlag
	flag.StringVar(&o.Addr, "addr", "localhost:8080", "gateway address")
	flag.StringVar(&o.DataDir, "data", ".devstack", "data directory, kept across restarts")
	flag.BoolVar(&o.Clean, "clean", false, "delete the data directory first")
	flag.BoolVar(&o.Multi, "multi", false, "run each service as its own process (NATS and Redis on 127.0.0.1 unless -nats/-redis say otherwise)")
	flag.IntVar(&o.Replicas, "replicas", 2, "replicas of orders and tickets in -multi mode")
	flag.IntVar(&o.BasePort, "base-port", 3001, "first service port: auth, tickets, orders, expiration, payments, web, queue follow; 0 picks free ports")
	flag.StringVar(&o.NATSURL, "nats", os.Getenv("NATS_URL"), "external NATS URL (default: embedded; nats://127.0.0.1:4222 with -multi)")
	flag.StringVar(&o.RedisAddr, "redis", os.Getenv("REDIS_ADDR"), "external Redis address (default: redis-server from PATH, else miniredis; 127.0.0.1:6379 with -multi)")
	flag.StringVar(&o.MongoURI, "mongodb", os.Getenv("MONGODB_URI"), "MongoDB URI (default: the stand-in in the data directory)")
	flag.StringVar(&o.MongoBackend, "mongo-backend", "auto", "stand-in backend: auto (a private PostgreSQL cluster in the data directory when PostgreSQL's server binaries are installed, else sqlite), sqlite, or postgresql (the server at -postgres)")
	flag.StringVar(&o.PostgresURL, "postgres", "postgres://postgres@127.0.0.1:5432/postgres", "PostgreSQL for -mongo-backend postgresql")
	flag.StringVar(&o.LogLevel, "log-level", "info", "services' log level")
	flag.Var(&envFlags, "env", "KEY=VALUE for every service (repeatable), e.g. -env EXPIRATION_WINDOW=1m")
	flag.Parse()
	if o.Multi {
		if o.NATSURL == "" {
			o.NATSURL = "nats://127.0.0.1:4222"
		}
		if o.RedisAddr == "" {
			o.RedisAddr = "127.0.0.1:6379"
		}
	}
	o.Env = map[string]string{}
	if w := os.Getenv("EXPIRATION_WINDOW"); w != "" {
		o.Env["EXPIRATION_WINDOW"] = w
	}
	for _, kv := range envFlags {
		k, v, _ := strings.Cut(kv, "=")
		o.Env[k] = v
	}
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))

	os.Exit(run(o))
}

// run starts the stack and serves until SIGINT (Ctrl-C) or SIGTERM, then shuts it down. Its
// exit code is 0 after a shutdown that a signal asked for, also one that came during the
// start, so that make and scripts do not report Ctrl-C as a failure; 1 when the start failed.
// A second signal during the shutdown ends the process at once.
func run(o Options) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	s, err := Start(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "devstack: interrupted during the start; stopped")
			return 0
		}
		fmt.Fprintln(os.Stderr, "devstack:", err)
		return 1
	}
	s.printSummary()
	<-ctx.Done()
	stop() // from here a second Ctrl-C ends the process at once
	fmt.Fprintln(os.Stderr, "devstack: shutting down (Ctrl-C again to stop at once)")
	s.Close()
	fmt.Fprintln(os.Stderr, "devstack: stopped")
	return 0
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (s *Stack) printSummary() {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	mode := "single process"
	if s.opts.Multi {
		mode = "one process per service"
	}
	fmt.Fprintf(w, "\nTicketing platform is up (%s). Ctrl-C stops it.\n\n", mode)
	fmt.Fprintf(w, "storefront\t%s/\topen it in a browser\n", s.URL)
	fmt.Fprintf(w, "gateway\t%s\t/api/users /api/tickets /api/events /api/orders /api/payments /api/queue, the rest to web\n", s.URL)
	for _, name := range Services {
		var addrs []string
		if ps := s.procs[name]; len(ps) > 0 {
			for _, p := range ps {
				addrs = append(addrs, p.addr)
			}
		} else if p := s.gw.pools[name]; p != nil {
			for _, b := range p.backends {
				addrs = append(addrs, b.url.Host)
			}
		}
		fmt.Fprintf(w, "%s\t%s\t/healthz /readyz\n", name, strings.Join(addrs, " "))
	}
	fmt.Fprintf(w, "nats\t%s\t%s\n", s.NATSURL, prefixNote(s.Prefix))
	fmt.Fprintf(w, "mongodb\t%s\t%s\n", s.MongoURI, s.MongoKind)
	fmt.Fprintf(w, "redis\t%s\t%s\n", s.RedisAddr, s.RedisKind)
	fmt.Fprintf(w, "payments\t%s\t\n", s.env["payments"]["PAYMENT_PROVIDER"])
	fmt.Fprintf(w, "data\t%s\t(-clean starts empty)\n", s.opts.DataDir)
	w.Flush()
	fmt.Println()
}

func prefixNote(p string) string {
	if p == "" {
		return "embedded JetStream"
	}
	return "subjects and streams under prefix " + p
}

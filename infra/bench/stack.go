package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing/common/events"
)

// StackOptions say how to start a dev stack for one phase of the run.
type StackOptions struct {
	Name        string // "main", "expiry"
	RunID       string
	Root        string // the repository (the directory of go.work)
	DevstackBin string // built once per run
	Backend     string // stand-in backend: postgresql or sqlite
	AdminURL    string // PostgreSQL where a fresh database is created (postgresql backend)
	Addr        string // gateway address
	BasePort    int    // first service port; metrics listen at port+100
	Env         []string
	LogLevel    string
	LogDir      string // where the stack's own output and the services' logs are kept
	Keep        bool   // keep the data directory and the database
}

// Stack is a dev stack (infra/devstack -multi) started as a child process.
type Stack struct {
	Info    StackInfo
	URL     string
	NATSURL string
	Prefix  string
	Metrics *Metrics

	opts    StackOptions
	cmd     *exec.Cmd
	exited  chan struct{}
	dataDir string
	db      string
}

// buildDevstack compiles infra/devstack once for the run.
func buildDevstack(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "devstack")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./infra/devstack")
	cmd.Dir = root
	cmd.Env = workspaceEnv(root)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./infra/devstack: %v\n%s", err, out)
	}
	return bin, nil
}

// workspaceEnv is this process's environment with the repository's go.work in force (make
// runs the bench itself with GOWORK=off, as its module is outside the workspace).
func workspaceEnv(root string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOWORK=") {
			env = append(env, kv)
		}
	}
	return append(env, "GOWORK="+filepath.Join(root, "go.work"))
}

var dbNameRE = regexp.MustCompile(`[^a-z0-9_]`)

// StartStack creates a fresh database, starts the dev stack and waits for its summary.
func StartStack(ctx context.Context, o StackOptions) (_ *Stack, err error) {
	s := &Stack{opts: o, exited: make(chan struct{})}
	defer func() {
		if err != nil {
			s.Close(context.Background())
		}
	}()
	start := time.Now()
	args := []string{"-multi", "-clean", "-addr", o.Addr, "-base-port", strconv.Itoa(o.BasePort),
		"-mongo-backend", o.Backend, "-log-level", o.LogLevel}
	s.Info = StackInfo{Name: o.Name, Env: o.Env}
	if o.Backend == "postgresql" {
		s.db = dbNameRE.ReplaceAllString(strings.ToLower("bench_"+o.RunID+"_"+o.Name), "_")
		pgURL, err := createDatabase(ctx, o.AdminURL, s.db)
		if err != nil {
			return nil, err
		}
		s.Info.Postgres = redactURL(pgURL)
		args = append(args, "-postgres", pgURL)
	}
	for _, kv := range o.Env {
		args = append(args, "-env", kv)
	}
	if s.dataDir, err = os.MkdirTemp("", "ticketing-bench-"+o.Name+"-"); err != nil {
		return nil, err
	}
	args = append(args, "-data", filepath.Join(s.dataDir, "data"))

	if err := os.MkdirAll(o.LogDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(o.LogDir, "devstack-"+o.Name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	s.Info.Logs = o.LogDir
	cmd := exec.Command(o.DevstackBin, args...)
	cmd.Dir = o.Root
	cmd.Env = workspaceEnv(o.Root)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // never outlive the bench
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	fmt.Fprintf(logf, "$ %s %s\n", o.DevstackBin, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start devstack: %w", err)
	}
	s.cmd = cmd
	go func() { _ = cmd.Wait(); logf.Close(); close(s.exited) }()

	summary := make(chan map[string][]string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		fields := map[string][]string{}
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			f := strings.Fields(line)
			if len(f) >= 2 && !sent {
				if _, seen := fields[f[0]]; !seen { // "payments" is both a service and the provider line
					fields[f[0]] = f[1:]
				}
				if f[0] == "data" {
					summary <- fields
					sent = true
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()

	select {
	case f := <-summary:
		if err := s.parseSummary(f); err != nil {
			return nil, err
		}
	case <-s.exited:
		return nil, fmt.Errorf("dev stack %s exited during start:\n%s", o.Name, tail(logPath, 30))
	case <-time.After(10 * time.Minute):
		return nil, fmt.Errorf("dev stack %s not up within 10 minutes; see %s", o.Name, logPath)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.Info.Startup = round2(time.Since(start).Seconds())
	return s, nil
}

// parseSummary reads the table devstack prints once every service is ready.
func (s *Stack) parseSummary(f map[string][]string) error {
	if len(f["gateway"]) == 0 {
		return errors.New("devstack summary without a gateway line")
	}
	s.URL = f["gateway"][0]
	s.Info.URL = s.URL
	if n := f["nats"]; len(n) > 0 {
		s.NATSURL = n[0]
		if i := indexOf(n, "prefix"); i >= 0 && i+1 < len(n) {
			s.Prefix = n[i+1]
		}
	}
	if m := f["mongodb"]; len(m) > 0 {
		s.Info.Mongo = m[0]
		s.Info.Backend = strings.Join(m[1:], " ")
	}
	s.Metrics = &Metrics{hc: &http.Client{Timeout: 5 * time.Second}, targets: map[string][]string{}}
	if s.opts.BasePort != 0 {
		for _, svc := range []string{"auth", "tickets", "orders", "expiration", "payments"} {
			for _, a := range f[svc] {
				host, port, err := net.SplitHostPort(a)
				if err != nil {
					break // "/healthz": the end of the addresses
				}
				p, _ := strconv.Atoi(port)
				s.Metrics.targets[svc] = append(s.Metrics.targets[svc], fmt.Sprintf("http://%s/metrics", net.JoinHostPort(host, strconv.Itoa(p+100))))
			}
		}
	} else {
		s.Metrics = nil
	}
	return nil
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// Pid is the dev stack's process id (its services are its children).
func (s *Stack) Pid() int {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// DeadLetters counts the events dead-lettered on this stack's bus.
func (s *Stack) DeadLetters(ctx context.Context) (uint64, error) {
	nc, js, err := connectJetStream(s.NATSURL)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	st, err := js.Stream(ctx, events.Topology{Prefix: s.Prefix}.Stream(events.StreamDeadLetter))
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// Backlog is the events this stack's consumers have not handled yet: over every durable
// consumer of every stream of the stack, those not delivered (NumPending) and those delivered
// but not acknowledged (NumAckPending).
func (s *Stack) Backlog(ctx context.Context) (uint64, error) {
	nc, js, err := connectJetStream(s.NATSURL)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	var n uint64
	for _, cfg := range (events.Topology{Prefix: s.Prefix}).Streams() {
		st, err := js.Stream(ctx, cfg.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		infos := st.ListConsumers(ctx)
		for ci := range infos.Info() {
			if ci.Config.Durable == "" {
				continue // the bench's own ordered consumers
			}
			n += ci.NumPending + uint64(ci.NumAckPending)
		}
		if err := infos.Err(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// Close stops the stack, keeps its services' logs, and removes its database, data
// directory and streams unless Keep.
func (s *Stack) Close(ctx context.Context) {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(40 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	if s.dataDir != "" {
		logs := filepath.Join(s.dataDir, "data", "logs")
		if _, err := os.Stat(logs); err == nil {
			_ = os.Rename(logs, filepath.Join(s.opts.LogDir, "services-"+s.opts.Name))
			if _, err := os.Stat(filepath.Join(s.opts.LogDir, "services-"+s.opts.Name)); err != nil {
				_ = exec.Command("cp", "-r", logs, filepath.Join(s.opts.LogDir, "services-"+s.opts.Name)).Run()
			}
		}
		if !s.opts.Keep {
			_ = os.RemoveAll(s.dataDir)
		}
	}
	if s.db != "" {
		// Read after the services stopped: their PostgreSQL backends flushed their statistics
		// as they disconnected.
		if st, err := tableStats(ctx, s.opts.AdminURL, s.db); err == nil {
			s.Info.Tables = st
		} else {
			fmt.Fprintf(os.Stderr, "bench: PostgreSQL statistics of %s: %v\n", s.db, err)
		}
	}
	if s.opts.Keep {
		return
	}
	if s.Prefix != "" && s.NATSURL != "" {
		if err := deleteStreams(ctx, s.NATSURL, s.Prefix); err != nil {
			fmt.Fprintf(os.Stderr, "bench: removing the streams of prefix %s: %v\n", s.Prefix, err)
		}
	}
	if s.db != "" {
		if err := dropDatabase(ctx, s.opts.AdminURL, s.db); err != nil {
			fmt.Fprintf(os.Stderr, "bench: dropping database %s: %v\n", s.db, err)
		}
	}
}

// connectJetStream connects the bench to the NATS at url; the caller closes the connection.
func connectJetStream(url string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url, nats.Name("bench"))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// deleteStreams removes the streams (and their consumers) of one stack from the shared NATS.
func deleteStreams(ctx context.Context, natsURL, prefix string) error {
	nc, js, err := connectJetStream(natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	var errs []error
	for _, cfg := range (events.Topology{Prefix: prefix}).Streams() {
		if err := js.DeleteStream(ctx, cfg.Name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// createDatabase creates db on the server of adminURL and returns the URL of db for the
// stand-in, with a connection pool larger than any client concurrency.
func createDatabase(ctx context.Context, adminURL, db string) (string, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL at %s (for a fresh database; -postgres sets it): %w", redactURL(adminURL), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", db, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + db
	return u.String(), nil
}

// TableStat is what PostgreSQL counted for one table of the stand-in (FerretDB stores each
// collection in a table of the schema named after its database).
type TableStat struct {
	Table      string `json:"table"` // schema.table
	SeqScan    int64  `json:"seqScan"`
	SeqTupRead int64  `json:"seqTupRead"`
	IdxScan    int64  `json:"idxScan"`
	Inserted   int64  `json:"inserted"`
	Updated    int64  `json:"updated"`
	Rows       int64  `json:"rows"`
}

func tableStats(ctx context.Context, adminURL, db string) ([]TableStat, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + db
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT schemaname || '.' || relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0),
		n_tup_ins, n_tup_upd, n_live_tup FROM pg_stat_user_tables WHERE n_tup_ins > 0 OR seq_scan > 0
		ORDER BY seq_tup_read DESC`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TableStat, error) {
		var t TableStat
		err := r.Scan(&t.Table, &t.SeqScan, &t.SeqTupRead, &t.IdxScan, &t.Inserted, &t.Updated, &t.Rows)
		return t, err
	})
}

func dropDatabase(ctx context.Context, adminURL, db string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
	return err
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "?"
	}
	return u.Redacted()
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// EventWatch records when JetStream stored each event of one subject on this stack's bus
// (the stream's own timestamp: the moment the publisher's outbox relay or direct publish
// reached the server).
type EventWatch struct {
	mu   sync.Mutex
	at   map[string]time.Time
	nc   *nats.Conn
	cc   jetstream.ConsumeContext
	errs atomic.Int64
}

// WatchEvents follows subject from the start of its stream with an ordered consumer; key
// names the event (an order id) from its JSON payload.
func (s *Stack) WatchEvents(ctx context.Context, subject string, key func(data []byte) string) (*EventWatch, error) {
	nc, js, err := connectJetStream(s.NATSURL)
	if err != nil {
		return nil, err
	}
	topo := events.Topology{Prefix: s.Prefix}
	cons, err := js.OrderedConsumer(ctx, topo.StreamOf(subject), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{topo.Subject(subject)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	w := &EventWatch{at: map[string]time.Time{}, nc: nc}
	w.cc, err = cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		k := key(m.Data())
		if err != nil || k == "" {
			w.errs.Add(1)
			return
		}
		w.mu.Lock()
		if _, seen := w.at[k]; !seen {
			w.at[k] = md.Timestamp
		}
		w.mu.Unlock()
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return w, nil
}

// At is when the event of key was stored, if it was.
func (w *EventWatch) At(key string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.at[key]
	return t, ok
}

// Len is the number of distinct events seen.
func (w *EventWatch) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.at)
}

func (w *EventWatch) Stop() {
	w.cc.Stop()
	w.nc.Close()
}

// jsonField is a key function reading one top-level string field of a payload.
func jsonField(name string) func([]byte) string {
	return func(data []byte) string {
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			return ""
		}
		s, _ := m[name].(string)
		return s
	}
}

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// storeCommands is the services' count of store commands (ticketing_store_commands_total),
// by service and command, summed over replicas.
type storeCommands map[string]map[string]float64

func (c storeCommands) total() float64 {
	var t float64
	for _, byCmd := range c {
		for _, v := range byCmd {
			t += v
		}
	}
	return t
}

// minus is c - base, per service and command.
func (c storeCommands) minus(base storeCommands) storeCommands {
	out := storeCommands{}
	for svc, byCmd := range c {
		for cmd, v := range byCmd {
			if d := v - base[svc][cmd]; d > 0 {
				if out[svc] == nil {
					out[svc] = map[string]float64{}
				}
				out[svc][cmd] = d
			}
		}
	}
	return out
}

// StoreCommands scrapes every service's count of store commands.
func (m *Metrics) StoreCommands(ctx context.Context) (storeCommands, error) {
	out := storeCommands{}
	for svc, urls := range m.targets {
		for _, u := range urls {
			req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
			if err != nil {
				return nil, err
			}
			resp, err := m.hc.Do(req)
			if err != nil {
				return nil, err
			}
			byCmd, err := samplesBy(resp.Body, "ticketing_store_commands_total", "command")
			resp.Body.Close()
			if err != nil {
				return nil, err
			}
			if out[svc] == nil {
				out[svc] = map[string]float64{}
			}
			for cmd, v := range byCmd {
				out[svc][cmd] += v
			}
		}
	}
	return out, nil
}

// samplesBy reads Prometheus text exposition and adds name's samples by the value of label.
func samplesBy(r io.Reader, name, label string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		end := strings.Index(rest, "}")
		if end < 0 {
			continue
		}
		key := ""
		for _, kv := range splitLabels(rest[:end]) {
			if k, v, ok := strings.Cut(kv, "="); ok && k == label {
				key = strings.Trim(v, `"`)
			}
		}
		f := strings.Fields(rest[end+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out[key] += v
	}
	return out, sc.Err()
}

// commandWindow counts the store commands a scenario causes, until the work its requests
// started (events, relays) has settled.
type commandWindow struct {
	m    *Metrics
	base storeCommands
	ok   bool
}

// watchCommands starts counting once the work of the scenario's setup (the relays' removals
// of ticket.created, the replicas' inserts) has settled, at most 15 s.
func (m *Metrics) watchCommands(ctx context.Context) *commandWindow {
	w := &commandWindow{m: m}
	if m == nil {
		return w
	}
	var err error
	w.base, _, err = m.settledCommands(ctx, 15*time.Second)
	w.ok = err == nil
	return w
}

// settledCommands scrapes the count until it stops growing (no more than 2 commands in a
// second: the relays' and sweeper's polls go on), at most for settle; it returns the last
// count and how long it waited.
func (m *Metrics) settledCommands(ctx context.Context, settle time.Duration) (storeCommands, time.Duration, error) {
	start := time.Now()
	last := -1.0
	for {
		c, err := m.StoreCommands(ctx)
		if err != nil {
			return nil, 0, err
		}
		t := c.total()
		if last >= 0 && t-last <= 2 || time.Since(start) > settle || ctx.Err() != nil {
			return c, time.Since(start), nil
		}
		last = t
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// report waits until the count settles, at most settle, then reports the commands per
// order (what names it: "order", "order placed and expired"), in total and per service, and
// each service's commands by name.
func (w *commandWindow) report(ctx context.Context, res *Result, what string, orders int, settle time.Duration) {
	if !w.ok || orders == 0 {
		return
	}
	cur, waited, err := w.m.settledCommands(ctx, settle)
	if err != nil {
		res.note("store commands: %v", err)
		return
	}
	d := cur.minus(w.base)
	n := float64(orders)
	res.metric("store commands per "+what, round2(d.total()/n), "commands")
	svcs := make([]string, 0, len(d))
	for svc := range d {
		svcs = append(svcs, svc)
	}
	sort.Strings(svcs)
	for _, svc := range svcs {
		var t float64
		var parts []string
		for _, cmd := range sortedKeys(d[svc]) {
			t += d[svc][cmd]
			parts = append(parts, fmt.Sprintf("%s %.2f", cmd, d[svc][cmd]/n))
		}
		res.metric("store commands per "+what+", "+svc, round2(t/n), "commands")
		res.note("store commands per %s, %s: %s", what, svc, strings.Join(parts, ", "))
	}
	res.note("store commands counted from the settled setup until the count settled, %.1f s after the last %s (background polls included)", waited.Seconds(), what)
}

// stackMetrics is the metrics of the bench's own stack; nil (no counts) against a platform
// that already runs.
func (b *Bench) stackMetrics() *Metrics {
	if b.stack == nil {
		return nil
	}
	return b.stack.Metrics
}

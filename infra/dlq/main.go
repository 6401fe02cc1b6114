// Command dlq lists, shows, replays and discards the events consumers gave up on (the
// DEADLETTER stream):
//
//	go run ./infra/dlq list [-consumer tickets-order-created]
//	go run ./infra/dlq show <seq>
//	go run ./infra/dlq replay <seq>... | replay -all [-consumer c]
//	go run ./infra/dlq discard <seq>...
//
// It reads NATS_URL (default nats://127.0.0.1:4222) and BUS_PREFIX, as the services do.
// A replay publishes the event again on its subject, with its payload and headers: every
// consumer of the subject gets it again, and handlers ignore what they applied already.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"ticketing/common/bus"
	"ticketing/common/events"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "dlq:", err)
		os.Exit(1)
	}
}

const usage = `usage: dlq list [-consumer name] | show <seq> | replay <seq>... | replay -all [-consumer name] | discard <seq>...
environment: NATS_URL (nats://127.0.0.1:4222), BUS_PREFIX`

func run(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd := args[0]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	consumer := fs.String("consumer", "", "only this durable consumer's dead letters")
	all := fs.Bool("all", false, "replay every dead letter (of -consumer, if given)")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%v\n%s", err, usage)
	}
	url := getenv("NATS_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	topo := events.Topology{Prefix: getenv("BUS_PREFIX")}
	conn, err := bus.Connect(ctx, url, "dlq", topo, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer conn.Close()

	switch cmd {
	case "list":
		list, err := conn.DeadLetters(ctx, *consumer)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "SEQ\tAT\tCONSUMER\tSUBJECT\tEVENT ID\tREASON")
		for _, d := range list {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", d.Seq, d.At.UTC().Format(time.RFC3339), d.Consumer, d.Subject, d.EventID, oneLine(d.Reason, 80))
		}
		w.Flush()
		fmt.Fprintf(out, "%d dead letter(s)\n", len(list))
		return nil
	case "show":
		seqs, err := sequences(fs.Args())
		if err != nil || len(seqs) != 1 {
			return fmt.Errorf("show takes one sequence\n%s", usage)
		}
		d, err := conn.GetDeadLetter(ctx, seqs[0])
		if err != nil {
			return err
		}
		return show(out, d)
	case "replay", "discard":
		seqs, err := sequences(fs.Args())
		if err != nil {
			return fmt.Errorf("%v\n%s", err, usage)
		}
		if *all {
			if cmd != "replay" || len(seqs) > 0 {
				return errors.New("-all goes with replay and no sequence")
			}
			list, err := conn.DeadLetters(ctx, *consumer)
			if err != nil {
				return err
			}
			for _, d := range list {
				seqs = append(seqs, d.Seq)
			}
		} else if len(seqs) == 0 {
			return fmt.Errorf("%s takes sequences (see dlq list)\n%s", cmd, usage)
		}
		for _, seq := range seqs {
			if cmd == "discard" {
				if err := conn.DiscardDeadLetter(ctx, seq); err != nil {
					return err
				}
				fmt.Fprintf(out, "discarded %d\n", seq)
				continue
			}
			id, err := conn.ReplayDeadLetter(ctx, seq)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "replayed %d as %s\n", seq, id)
		}
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

func sequences(args []string) ([]uint64, error) {
	var out []uint64
	for _, a := range args {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%q is not a dead-letter sequence", a)
		}
		out = append(out, n)
	}
	return out, nil
}

// show prints a dead letter: its headers, sorted, then its payload, indented when it is JSON.
func show(out io.Writer, d bus.DeadLetter) error {
	fmt.Fprintf(out, "seq: %d\nat: %s\nconsumer: %s\nsubject: %s\nevent id: %s\nreason: %s\nheaders:\n",
		d.Seq, d.At.UTC().Format(time.RFC3339Nano), d.Consumer, d.Subject, d.EventID, d.Reason)
	keys := make([]string, 0, len(d.Header))
	for k := range d.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range d.Header[k] {
			fmt.Fprintf(out, "  %s: %s\n", k, v)
		}
	}
	var v any
	if json.Unmarshal(d.Data, &v) == nil {
		b, _ := json.MarshalIndent(v, "", "  ")
		_, err := fmt.Fprintf(out, "payload:\n%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(out, "payload (%d bytes, not JSON):\n%q\n", len(d.Data), d.Data)
	return err
}

func oneLine(s string, n int) string {
	r := []rune(s)
	for i, c := range r {
		if c == '\n' || c == '\r' || c == '\t' {
			r[i] = ' '
		}
	}
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return string(r)
}

// Package bus moves events between services over NATS JetStream: a publisher that stamps the
// headers of API.md, a typed listener on a durable pull consumer with retries and a
// dead-letter subject, and the relay of the transactional outbox.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing/common/config"
	"ticketing/common/events"
)

// Header names carried by every event.
const (
	HeaderMsgID       = "Nats-Msg-Id"
	HeaderEventType   = "Event-Type"
	HeaderEventSchema = "Event-Schema"
	HeaderTraceParent = "traceparent"
	HeaderRequestID   = "X-Request-Id"
	HeaderDLReason    = "Dead-Letter-Reason"
	HeaderDLConsumer  = "Dead-Letter-Consumer"
	HeaderDLSubject   = "Dead-Letter-Subject"
	HeaderDLMsgID     = "Dead-Letter-Msg-Id"
)

// Conn is a NATS connection with JetStream and the deployment's topology.
type Conn struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	Topology events.Topology
	log      *slog.Logger
}

// SetupTimeout bounds how long Connect and Listen retry creating streams and consumers
// while JetStream cannot answer yet: a cluster electing its meta leader, or a stream its
// leader, after a server restarted.
const SetupTimeout = time.Minute

// Connect dials url (one URL, or a comma-separated list of seed servers of a cluster) as
// client name, reconnecting for ever, and creates or updates the streams
// of topo.
//
// While no server answers, it keeps trying (every second at first, then every 5 s), logging
// each attempt, until ctx ends: a service started before NATS waits for it instead of exiting.
func Connect(ctx context.Context, url, name string, topo events.Topology, log *slog.Logger) (*Conn, error) {
	if log == nil {
		log = slog.Default()
	}
	var nc *nats.Conn
	var err error
	for attempt := 1; ; attempt++ {
		nc, err = dial(url, name, log)
		if err == nil {
			break
		}
		log.Warn("NATS unreachable; waiting for it", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to NATS: %w (gave up: %w)", err, ctx.Err())
		case <-time.After(min(time.Duration(attempt)*time.Second, 5*time.Second)):
		}
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(publishTimeout))
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := &Conn{NC: nc, JS: js, Topology: topo, log: log}
	if err := c.EnsureStreams(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// dial makes one attempt to connect to NATS; once connected, the connection reconnects for
// ever.
func dial(url, name string, log *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
	)
	if err != nil {
		// The URL may carry a user and password or a token: never in an error.
		return nil, fmt.Errorf("connect to NATS at %s: %w", config.RedactURLs(url), err)
	}
	return nc, nil
}

// EnsureStreams creates or updates every stream of the topology.
func (c *Conn) EnsureStreams(ctx context.Context) error {
	for _, cfg := range c.Topology.Streams() {
		err := retrySetup(ctx, c.log, "stream "+cfg.Name, func(ctx context.Context) error {
			_, err := c.JS.CreateOrUpdateStream(ctx, cfg)
			return err
		})
		if err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// retrySetup runs fn until it succeeds, fails with a request JetStream refuses (a 400: a
// bad configuration), or SetupTimeout passes: a JetStream cluster without a leader answers
// with timeouts or 503s for a few seconds.
func retrySetup(ctx context.Context, log *slog.Logger, what string, fn func(context.Context) error) error {
	if log == nil {
		log = slog.Default()
	}
	deadline := time.Now().Add(SetupTimeout)
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := fn(actx)
		cancel()
		var apiErr *jetstream.APIError
		if err == nil || ctx.Err() != nil || (errors.As(err, &apiErr) && apiErr.Code == 400) || time.Now().After(deadline) {
			return err
		}
		log.Warn("JetStream not ready; retrying", "what", what, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Duration(attempt)*250*time.Millisecond, 2*time.Second)):
		}
	}
}

// Ready reports whether the connection is up and JetStream answers.
func (c *Conn) Ready(ctx context.Context) error {
	if !c.NC.IsConnected() {
		return errors.New("nats: not connected")
	}
	_, err := c.JS.AccountInfo(ctx)
	return err
}

// Close drains the connection, flushing what was published.
func (c *Conn) Close() {
	if err := c.NC.Drain(); err != nil {
		c.NC.Close()
	}
}

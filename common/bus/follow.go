package bus

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ticketing/common/events"
)

// Follow hands every event E on the bus to h, in this process: through an ordered consumer
// of its own, from the oldest event the stream keeps, so that every replica of every service
// sees each event (Listen's durable consumer hands each to one replica). It is for state that
// each process keeps in memory, such as the revoked sessions. Follow returns once the events
// stored when it started have been handed over (or, if that takes longer than SetupTimeout,
// logs it and returns), and keeps following until ctx ends or stop is called. The ordered
// consumer re-creates itself after a reconnect and resumes after the last event handed over.
// An event that does not decode, or of another schema, is logged and skipped. h runs on one
// goroutine, in stream order, and must not block long.
func Follow[E events.Event](ctx context.Context, c *Conn, h func(E), log *slog.Logger) (stop func(), err error) {
	if log == nil {
		log = slog.Default()
	}
	var zero E
	subject := c.Topology.Subject(zero.Subject())
	streamName := c.Topology.StreamOf(zero.Subject())
	log = log.With("follows", zero.Subject())
	var pending uint64
	var cons jetstream.Consumer
	err = retrySetup(ctx, log, "follow "+zero.Subject(), func(ctx context.Context) error {
		s, err := c.JS.Stream(ctx, streamName)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil {
			return err
		}
		pending = info.State.Subjects[subject]
		cons, err = s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{subject},
			DeliverPolicy:  jetstream.DeliverAllPolicy,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", zero.Subject(), err)
	}
	caughtUp := make(chan struct{})
	var once sync.Once
	done := func() { once.Do(func() { close(caughtUp) }) }
	if pending == 0 {
		done()
	}
	schema := strconv.Itoa(zero.Schema())
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if s := m.Headers().Get(HeaderEventSchema); s != "" && s != schema {
			log.Warn("event of an unknown schema skipped", "schema", s, "event_id", m.Headers().Get(HeaderMsgID))
		} else if e, err := events.Decode[E](m.Data()); err != nil {
			log.Warn("invalid event skipped", "err", err, "event_id", m.Headers().Get(HeaderMsgID))
		} else {
			h(e)
		}
		if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
			done()
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if c.NC.IsConnected() {
			log.Warn("follow", "err", err)
		}
	}))
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", zero.Subject(), err)
	}
	t := time.NewTimer(SetupTimeout)
	defer t.Stop()
	select {
	case <-caughtUp:
	case <-t.C:
		log.Warn("the events stored before the start are not all handled yet; following on")
	case <-ctx.Done():
		cc.Stop()
		return nil, ctx.Err()
	}
	go func() {
		<-ctx.Done()
		cc.Stop()
	}()
	return cc.Stop, nil
}

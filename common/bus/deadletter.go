package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing/common/events"
)

// DeadLetter is an event a consumer gave up on, as the DEADLETTER stream keeps it: the whole
// event (payload and headers) and why.
type DeadLetter struct {
	Seq      uint64      // its sequence in the DEADLETTER stream: what Replay and Discard take
	Consumer string      // the durable consumer that gave up
	Subject  string      // the event's subject, without the bus prefix
	EventID  string      // the event's own id (Nats-Msg-Id when it was published)
	Reason   string      // the handler's last error
	At       time.Time   // when it was dead-lettered
	Header   nats.Header // every header of the event, and the Dead-Letter-* ones
	Data     []byte      // the event's payload, as published
}

// ErrNoDeadLetter is returned for a sequence that holds no dead letter (never did, or it was
// replayed or discarded).
var ErrNoDeadLetter = errors.New("no such dead letter")

func (c *Conn) deadLetterStream(ctx context.Context) (jetstream.Stream, error) {
	return c.JS.Stream(ctx, c.Topology.Stream(events.StreamDeadLetter))
}

// DeadLetters lists the dead letters kept, oldest first; consumer, when not empty, keeps
// only that consumer's.
func (c *Conn) DeadLetters(ctx context.Context, consumer string) ([]DeadLetter, error) {
	st, err := c.deadLetterStream(ctx)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	var out []DeadLetter
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		d, err := c.GetDeadLetter(ctx, seq)
		if errors.Is(err, ErrNoDeadLetter) {
			continue // replayed or discarded
		}
		if err != nil {
			return out, err
		}
		if consumer == "" || d.Consumer == consumer {
			out = append(out, d)
		}
	}
	return out, nil
}

// GetDeadLetter reads the dead letter at seq.
func (c *Conn) GetDeadLetter(ctx context.Context, seq uint64) (DeadLetter, error) {
	st, err := c.deadLetterStream(ctx)
	if err != nil {
		return DeadLetter{}, err
	}
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, fmt.Errorf("%w at %d", ErrNoDeadLetter, seq)
	}
	if err != nil {
		return DeadLetter{}, err
	}
	return DeadLetter{
		Seq: m.Sequence, Consumer: m.Header.Get(HeaderDLConsumer), Subject: m.Header.Get(HeaderDLSubject),
		EventID: m.Header.Get(HeaderDLMsgID), Reason: m.Header.Get(HeaderDLReason), At: m.Time,
		Header: m.Header, Data: m.Data,
	}, nil
}

// ReplayDeadLetter publishes the event of the dead letter at seq again on its subject, with
// its headers and payload, then removes the dead letter. Every consumer of the subject gets
// it again (handlers are idempotent: the ones that applied it already ignore it). Its id is
// "<event id>.replay.<seq>", so that replaying one dead letter twice within the duplicate
// window publishes it once; it returns that id.
func (c *Conn) ReplayDeadLetter(ctx context.Context, seq uint64) (string, error) {
	d, err := c.GetDeadLetter(ctx, seq)
	if err != nil {
		return "", err
	}
	if d.Subject == "" {
		return "", fmt.Errorf("dead letter %d names no subject", seq)
	}
	m := nats.NewMsg(c.Topology.Subject(d.Subject))
	m.Data = d.Data
	for k, v := range d.Header {
		if !strings.HasPrefix(k, "Dead-Letter-") && !strings.HasPrefix(k, "Nats-") {
			m.Header[k] = v
		}
	}
	id := fmt.Sprintf("%s.replay.%d", d.EventID, seq)
	m.Header.Set(HeaderMsgID, id)
	if _, err := c.JS.PublishMsg(ctx, m); err != nil {
		return "", fmt.Errorf("republish dead letter %d: %w", seq, err)
	}
	return id, c.DiscardDeadLetter(ctx, seq)
}

// DiscardDeadLetter removes the dead letter at seq without replaying it.
func (c *Conn) DiscardDeadLetter(ctx context.Context, seq uint64) error {
	st, err := c.deadLetterStream(ctx)
	if err != nil {
		return err
	}
	if err := st.DeleteMsg(ctx, seq); err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("%w at %d", ErrNoDeadLetter, seq)
		}
		return err
	}
	return nil
}

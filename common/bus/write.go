package bus

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing/common/events"
)

// Writer is the one write path for a state change and the events it causes. Each call is
// one single-document write that stores the change and appends the events, in envelopes, to
// the document's outbox; once the write is stored, the Writer hands the events to the relay,
// which publishes them at once (if the hand-over is lost, the relay's poll finds them). A
// store keeps one Writer per collection whose documents carry an outbox; nothing else builds
// envelopes or calls Notify.
type Writer struct {
	coll  *mongo.Collection
	relay Notifier
}

// NewWriter writes to coll and hands the events written to relay; with a nil relay the
// events wait for a relay's poll.
func NewWriter(coll *mongo.Collection, relay Notifier) *Writer {
	return &Writer{coll: coll, relay: relay}
}

// Collection is the collection written, whose outbox the relay publishes.
func (w *Writer) Collection() *mongo.Collection { return w.coll }

// Outboxed is a pointer to a document type that embeds Outbox.
type Outboxed interface{ outboxOf() *Outbox }

func (o *Outbox) outboxOf() *Outbox { return o }

// WithID gives e a chosen event id instead of a fresh one, for an event whose duplicates
// JetStream must drop whichever write or replica stores it.
func WithID(id string, e events.Event) events.Event { return identified{Event: e, id: id} }

type identified struct {
	events.Event
	id string
}

// envelopes wraps evs with the request id and trace of ctx.
func envelopes(ctx context.Context, evs []events.Event) ([]Envelope, error) {
	envs := make([]Envelope, 0, len(evs))
	for _, e := range evs {
		var env Envelope
		var err error
		if withID, ok := e.(identified); ok {
			env, err = NewEnvelopeWithID(ctx, withID.id, withID.Event)
		} else {
			env, err = NewEnvelope(ctx, e)
		}
		if err != nil {
			return nil, err
		}
		envs = append(envs, env)
	}
	return envs, nil
}

func (w *Writer) notify(id string, envs []Envelope) {
	if len(envs) > 0 && w.relay != nil {
		w.relay.Notify(id, envs...)
	}
}

// Insert stores doc, a new document whose _id is id, with evs in its outbox (whatever doc's
// outbox held is replaced).
func (w *Writer) Insert(ctx context.Context, id string, doc Outboxed, evs ...events.Event) error {
	envs, err := envelopes(ctx, evs)
	if err != nil {
		return err
	}
	*doc.outboxOf() = NewOutbox(envs...)
	if _, err := w.coll.InsertOne(ctx, doc); err != nil {
		return err
	}
	w.notify(id, envs)
	return nil
}

// filter matches document id where it also meets cond.
func filter(id string, cond bson.D) bson.D {
	return append(bson.D{{Key: "_id", Value: id}}, cond...)
}

// Update applies update, a document of update operators whose $set (if any) is a bson.M, to
// document id where it also meets cond, and appends evs to its outbox in the same write. It
// reports whether a document matched; when none did, nothing was written.
func (w *Writer) Update(ctx context.Context, id string, cond bson.D, update bson.M, evs ...events.Event) (bool, error) {
	envs, err := envelopes(ctx, evs)
	if err != nil {
		return false, err
	}
	res, err := w.coll.UpdateOne(ctx, filter(id, cond), AddOutbox(update, envs...))
	if err != nil {
		return false, err
	}
	if res.MatchedCount == 0 {
		return false, nil
	}
	w.notify(id, envs)
	return true, nil
}

// UpdateAndGet is Update that also decodes the document, as it is after the write, into out
// (a pointer). The outbox is decoded too: the stand-in takes no projection on findAndModify.
func (w *Writer) UpdateAndGet(ctx context.Context, id string, cond bson.D, update bson.M, out any, evs ...events.Event) (bool, error) {
	envs, err := envelopes(ctx, evs)
	if err != nil {
		return false, err
	}
	err = w.coll.FindOneAndUpdate(ctx, filter(id, cond), AddOutbox(update, envs...),
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(out)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("update %s %s: %w", w.coll.Name(), id, err)
	}
	w.notify(id, envs)
	return true, nil
}

// InsertMany stores docs, new documents, each with its events in its outbox (docs[i] with
// evs[i]; whatever the outbox held is replaced), in one ordered batch. ids[i] is docs[i]'s
// _id. A batch that fails part way leaves the documents before the failure stored, with
// their events, which the relay publishes.
func (w *Writer) InsertMany(ctx context.Context, ids []string, docs []Outboxed, evs [][]events.Event) error {
	if len(ids) != len(docs) || len(docs) != len(evs) {
		return fmt.Errorf("insert into %s: %d ids, %d documents, %d event lists", w.coll.Name(), len(ids), len(docs), len(evs))
	}
	if len(docs) == 0 {
		return nil
	}
	all := make([][]Envelope, len(docs))
	batch := make([]any, len(docs))
	for i, doc := range docs {
		envs, err := envelopes(ctx, evs[i])
		if err != nil {
			return err
		}
		*doc.outboxOf() = NewOutbox(envs...)
		all[i], batch[i] = envs, doc
	}
	_, err := w.coll.InsertMany(ctx, batch, options.InsertMany().SetOrdered(true))
	n := len(docs)
	if err != nil {
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || len(bwe.WriteErrors) == 0 {
			return err // what landed, if any, is the relay poll's to publish
		}
		n = bwe.WriteErrors[0].Index
	}
	for i := range n {
		w.notify(ids[i], all[i])
	}
	return err
}

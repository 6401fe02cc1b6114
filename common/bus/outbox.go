package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// OutboxField is the array field of an aggregate document that holds its pending events.
// A service appends to it in the same single-document write as the state change:
//
//	update := bson.M{"$set": ..., "$push": bson.M{bus.OutboxField: bson.M{"$each": envs}}}
const OutboxField = "outbox"

// PushOutbox is the update operator that appends envs to a document's outbox.
func PushOutbox(envs ...Envelope) bson.M {
	return bson.M{OutboxField: bson.M{"$each": envs}}
}

// RelayOptions tune a relay; the zero value is usable.
type RelayOptions struct {
	PollInterval time.Duration // how often every document is checked (the safety net); 5s by default, jittered
	Workers      int           // documents flushed at once after local writes; 8 by default
	Logger       *slog.Logger
	// AfterPublish, when set, runs after a document's events are acknowledged and before
	// they are removed; an error stops there, as a crash would (a test hook).
	AfterPublish func(docID string) error
}

// Relay publishes the outbox of one collection: it wakes at once for documents this replica
// wrote (Notify) and also polls, so that events left by a crashed replica still go out. An
// event is removed from its document only after JetStream acknowledged it; a republish after
// a crash carries the same id and JetStream drops the duplicate.
type Relay struct {
	conn *Conn
	coll *mongo.Collection
	opts RelayOptions
	wake chan string
	log  *slog.Logger
}

// NewRelay makes a relay for coll's outbox.
func NewRelay(conn *Conn, coll *mongo.Collection, opts RelayOptions) *Relay {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 5 * time.Second
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Relay{
		conn: conn,
		coll: coll,
		opts: opts,
		wake: make(chan string, 4096),
		log:  opts.Logger.With("outbox", coll.Name()),
	}
}

// Notify asks the relay to publish docID's outbox now. It never blocks: when the relay is
// busy the next poll picks the document up.
func (r *Relay) Notify(docID string) {
	select {
	case r.wake <- docID:
	default:
	}
}

// Run relays until ctx ends, then makes one last pass (bounded by a short timeout) so that
// a clean shutdown leaves nothing behind.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, r.opts.Workers)
	// Jittered, so that the replicas' polls, each a scan of the collection, spread out.
	tick := time.NewTicker(r.opts.PollInterval - r.opts.PollInterval/5 + rand.N(r.opts.PollInterval*2/5+1))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := r.Flush(fctx); err != nil {
				r.log.Warn("outbox flush at shutdown failed; the next start or another replica publishes the rest", "err", err)
			}
			return nil
		case id := <-r.wake:
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := r.flushDoc(ctx, id); err != nil && ctx.Err() == nil {
					r.log.Warn("outbox publish failed; the poll will retry", "doc", id, "err", err)
				}
			}()
		case <-tick.C:
			if err := r.Flush(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("outbox poll failed", "err", err)
			}
		}
	}
}

type outboxDoc struct {
	ID  string     `bson:"_id"`
	Raw []bson.Raw `bson:"outbox"` // removed by exact value: FerretDB's $pull takes no conditions
}

func (d outboxDoc) envelopes() ([]Envelope, error) {
	out := make([]Envelope, len(d.Raw))
	for i, raw := range d.Raw {
		if err := bson.Unmarshal(raw, &out[i]); err != nil {
			return nil, fmt.Errorf("outbox of %s: %w", d.ID, err)
		}
	}
	return out, nil
}

// Flush publishes every pending event of the collection.
func (r *Relay) Flush(ctx context.Context) error {
	cur, err := r.coll.Find(ctx,
		bson.M{OutboxField + ".0": bson.M{"$exists": true}},
		options.Find().SetProjection(bson.M{OutboxField: 1}).SetLimit(1000))
	if err != nil {
		return err
	}
	var docs []outboxDoc
	if err := cur.All(ctx, &docs); err != nil {
		return err
	}
	var oldest time.Time
	pending := 0
	for _, d := range docs {
		pending += len(d.Raw)
		if len(d.Raw) > 0 {
			if t, ok := d.Raw[0].Lookup("createdAt").TimeOK(); ok && (oldest.IsZero() || t.Before(oldest)) {
				oldest = t
			}
		}
	}
	outboxPending.WithLabelValues(r.coll.Name()).Set(float64(pending))
	if oldest.IsZero() {
		outboxOldest.WithLabelValues(r.coll.Name()).Set(0)
	} else {
		outboxOldest.WithLabelValues(r.coll.Name()).Set(time.Since(oldest).Seconds())
	}
	var errs []error
	for _, d := range docs {
		errs = append(errs, r.publish(ctx, d))
	}
	return errors.Join(errs...)
}

func (r *Relay) flushDoc(ctx context.Context, id string) error {
	var d outboxDoc
	err := r.coll.FindOne(ctx, bson.M{"_id": id}, options.FindOne().SetProjection(bson.M{OutboxField: 1})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return err
	}
	return r.publish(ctx, d)
}

func (r *Relay) publish(ctx context.Context, d outboxDoc) error {
	if len(d.Raw) == 0 {
		return nil
	}
	envs, err := d.envelopes()
	if err != nil {
		return err
	}
	n, pubErr := r.conn.PublishAll(ctx, envs)
	if n == 0 {
		return pubErr
	}
	if r.opts.AfterPublish != nil {
		if err := r.opts.AfterPublish(d.ID); err != nil {
			return err
		}
	}
	_, err = r.coll.UpdateOne(ctx, bson.M{"_id": d.ID}, bson.M{"$pullAll": bson.M{OutboxField: d.Raw[:n]}})
	if err != nil {
		return err
	}
	outboxPublished.WithLabelValues(r.coll.Name()).Add(float64(n))
	return pubErr
}

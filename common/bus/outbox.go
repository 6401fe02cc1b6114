package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const (
	// OutboxField is the array field of an aggregate document that holds its pending events.
	OutboxField = "outbox"
	// OutboxPendingField is true on a document whose outbox may hold events; the relay's poll
	// finds documents by it, through an index, and clears it once the outbox is empty.
	OutboxPendingField = "outboxPending"
)

// Outbox is the part of an aggregate's document that holds its pending events. Embed it
// inline in the document type:
//
//	type ticketDoc struct {
//		ID string `bson:"_id"`
//		...
//		bus.Outbox `bson:",inline"`
//	}
type Outbox struct {
	Events  []Envelope `bson:"outbox"`
	Pending bool       `bson:"outboxPending"`
}

// NewOutbox is the outbox of a new document, holding envs.
func NewOutbox(envs ...Envelope) Outbox {
	if envs == nil {
		envs = []Envelope{}
	}
	return Outbox{Events: envs, Pending: len(envs) > 0}
}

// AddOutbox makes update, a document of update operators, also append envs to the outbox
// and flag the document for the relay, so that the events are stored in the same
// single-document write as the state change. It returns update. A $set or $push in update
// must be a bson.M. Stores do not call it: they write through a Writer, which does.
func AddOutbox(update bson.M, envs ...Envelope) bson.M {
	if len(envs) == 0 {
		return update
	}
	operator(update, "$set")[OutboxPendingField] = true
	operator(update, "$push")[OutboxField] = bson.M{"$each": envs}
	return update
}

// operator is update's document for the update operator op (a bson.M), added when missing.
func operator(update bson.M, op string) bson.M {
	doc, ok := update[op].(bson.M)
	if !ok {
		if update[op] != nil {
			panic(fmt.Sprintf("bus.AddOutbox: %s is a %T, want bson.M", op, update[op]))
		}
		doc = bson.M{}
		update[op] = doc
	}
	return doc
}

// Notifier is told which document a write gave new events, and which: the outbox relay.
type Notifier interface {
	Notify(docID string, envs ...Envelope)
}

// RelayOptions tune a relay; the zero value is usable.
type RelayOptions struct {
	PollInterval time.Duration // how often flagged documents are checked (the safety net); 5s by default, jittered
	Workers      int           // batches of notified documents in flight at once; 4 by default
	BatchSize    int           // most documents whose events are published together; 64 by default
	// RetryDelay is how long after a failed publish of notified events, or a failed read of
	// a notified document, they are tried again (not left to the poll): doubled with each
	// failure in a row, and left to the poll once it would reach PollInterval; 250ms by
	// default. A stream whose leader died has a new one within seconds.
	RetryDelay time.Duration
	Logger     *slog.Logger
	// AfterPublish, when set, runs after a document's events are acknowledged and before
	// they are removed; an error stops there, as a crash would (a test hook).
	AfterPublish func(docID string) error
}

// Relay publishes the outbox of one collection. It is told about the documents this
// replica wrote (Notify, with the events written, so that nothing is read back) and also
// polls the documents flagged as pending, so that events left by a crashed replica still
// go out. Events are published in batches, asynchronously, and removed from their documents
// only after JetStream acknowledged them; a republish after a crash carries the same id and
// JetStream drops the duplicate.
type Relay struct {
	conn     *Conn
	coll     *mongo.Collection
	opts     RelayOptions
	wake     chan notice
	removals chan removal // published events to take out of their documents
	log      *slog.Logger
	failures atomic.Int32 // batches of notified documents that failed in a row
	// queued counts, per document, the removals queued and not done yet: the poll leaves
	// those documents alone, as their events are published already.
	queuedMu sync.Mutex
	queued   map[string]int
}

// removal is a document whose first n events JetStream acknowledged.
type removal struct {
	doc pendingDoc
	n   int
}

// notice is a document to relay and, when the writer gave them, the events it appended;
// tries counts the relay's failed tries in a row of the document before this notice.
type notice struct {
	id    string
	envs  []Envelope
	tries int
}

// NewRelay makes a relay for coll's outbox.
func NewRelay(conn *Conn, coll *mongo.Collection, opts RelayOptions) *Relay {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 5 * time.Second
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 64
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Relay{
		conn:     conn,
		coll:     coll,
		opts:     opts,
		wake:     make(chan notice, 4096),
		removals: make(chan removal, 1024),
		log:      opts.Logger.With("outbox", coll.Name()),
		queued:   map[string]int{},
	}
}

// Notify asks the relay to publish docID's outbox now. envs are the events the caller's
// write appended to it: the relay publishes them without reading the document. Without
// envs it reads the document's outbox. Notify never blocks: when the relay is busy the next
// poll picks the document up.
func (r *Relay) Notify(docID string, envs ...Envelope) {
	r.notify(notice{id: docID, envs: envs})
}

func (r *Relay) notify(n notice) {
	select {
	case r.wake <- n:
	default:
	}
}

// Run relays until ctx ends, then makes one last pass (bounded by a short timeout) so that
// a clean shutdown leaves nothing behind. Its first pass reads every document with events,
// flagged or not. Call it once.
//
// Notified events are published at once; their removal from the documents runs behind, on
// its own goroutines, so that the writes it takes never hold up the next publish.
func (r *Relay) Run(ctx context.Context) error {
	if err := r.CreateIndex(ctx); err != nil && ctx.Err() == nil {
		r.log.Warn("outbox index not created; polls scan the collection", "err", err)
	}
	removeCtx, stopRemoving := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRemoving()
	var wg, removers sync.WaitGroup
	for range r.opts.Workers {
		wg.Go(func() { r.work(ctx) })
	}
	for range removersPerWorker * r.opts.Workers {
		removers.Go(func() { r.removeQueued(removeCtx) })
	}
	if err := r.flush(ctx, bson.M{OutboxField + ".0": bson.M{"$exists": true}}, 0); err != nil && ctx.Err() == nil {
		r.log.Warn("outbox first pass failed", "err", err)
	}
	// Jittered, so that the replicas' polls spread out.
	tick := time.NewTicker(r.opts.PollInterval - r.opts.PollInterval/5 + rand.N(r.opts.PollInterval*2/5+1))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			close(r.removals) // nothing more is queued: the removers finish the queue
			drained := make(chan struct{})
			go func() { removers.Wait(); close(drained) }()
			select {
			case <-drained:
			case <-time.After(5 * time.Second):
				stopRemoving() // the final flush publishes the rest again, as duplicates
				<-drained
			}
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := r.Flush(fctx); err != nil {
				r.log.Warn("outbox flush at shutdown failed; the next start or another replica publishes the rest", "err", err)
			}
			return nil
		case <-tick.C:
			// Events younger than a poll interval are left to the relay that was notified of
			// them: publishing and removing them here too would cost a publish and writes
			// that find nothing to remove.
			if err := r.flush(ctx, bson.M{OutboxPendingField: true}, r.opts.PollInterval); err != nil && ctx.Err() == nil {
				r.log.Warn("outbox poll failed", "err", err)
			}
		}
	}
}

// CreateIndex creates the index of the pending flag that the polls use (Run does it).
func (r *Relay) CreateIndex(ctx context.Context) error {
	_, err := r.coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: OutboxPendingField, Value: 1}}})
	return err
}

// work relays notified documents, as many at a time as are waiting, up to BatchSize.
func (r *Relay) work(ctx context.Context) {
	for {
		var batch []notice
		select {
		case <-ctx.Done():
			return
		case n := <-r.wake:
			batch = append(batch, n)
		}
	more:
		for len(batch) < r.opts.BatchSize {
			select {
			case n := <-r.wake:
				batch = append(batch, n)
			default:
				break more
			}
		}
		if err := r.relayNotices(ctx, batch); err != nil && ctx.Err() == nil {
			r.log.Warn("outbox publish failed; retrying", "docs", len(batch), "err", err)
		}
	}
}

// pendingDoc is a document's events to publish and their stored values, which the removal
// names exactly (FerretDB's $pull takes no conditions).
type pendingDoc struct {
	id   string
	envs []Envelope
	raw  []bson.Raw
	read bool // the events are to be read from the document
}

type outboxDoc struct {
	ID  string     `bson:"_id"`
	Raw []bson.Raw `bson:"outbox"`
}

func (d outboxDoc) pending() (pendingDoc, error) {
	p := pendingDoc{id: d.ID, envs: make([]Envelope, len(d.Raw)), raw: d.Raw}
	for i, raw := range d.Raw {
		if err := bson.Unmarshal(raw, &p.envs[i]); err != nil {
			return p, fmt.Errorf("outbox of %s: %w", d.ID, err)
		}
	}
	return p, nil
}

// relayNotices publishes the notified documents' events: those given, or else those read.
func (r *Relay) relayNotices(ctx context.Context, batch []notice) error {
	byID := make(map[string]int, len(batch))
	tries := make(map[string]int, len(batch))
	var docs []pendingDoc
	var errs []error
	for _, n := range batch {
		tries[n.id] = max(tries[n.id], n.tries)
		i, seen := byID[n.id]
		if !seen {
			i = len(docs)
			byID[n.id] = i
			docs = append(docs, pendingDoc{id: n.id})
		}
		d := &docs[i]
		if len(n.envs) == 0 {
			d.read = true // whatever else was notified, the document has it all
			continue
		}
		for _, env := range n.envs {
			raw, err := bson.Marshal(env)
			if err != nil {
				errs = append(errs, err)
				d.read = true
				break
			}
			d.envs = append(d.envs, env)
			d.raw = append(d.raw, raw)
		}
	}
	var failed []string // tried again by the relay, before the poll
	for i := range docs {
		d := &docs[i]
		if !d.read {
			sortByCreation(d)
			continue
		}
		var od outboxDoc
		err := r.coll.FindOne(ctx, bson.M{"_id": d.id}, options.FindOne().SetProjection(bson.M{OutboxField: 1})).Decode(&od)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			*d = pendingDoc{}
		case err != nil:
			errs = append(errs, err)
			failed = append(failed, d.id)
			*d = pendingDoc{}
		default:
			if *d, err = od.pending(); err != nil {
				errs = append(errs, err)
				*d = pendingDoc{}
			}
		}
	}
	docs = slices.DeleteFunc(docs, func(d pendingDoc) bool { return len(d.envs) == 0 })
	rms, err := r.publish(ctx, docs)
	published := make(map[string]int, len(rms))
	for _, rm := range rms {
		published[rm.doc.id] = rm.n
		r.queue(rm)
	}
	for _, d := range docs {
		if published[d.id] < len(d.envs) {
			failed = append(failed, d.id)
		}
	}
	r.retryLater(failed, tries)
	return errors.Join(append(errs, err)...)
}

// retryLater notifies the documents again, without their events (they are read back: some
// may have been published meanwhile): those whose events failed to publish, and those whose
// read failed. Each is tried again after RetryDelay doubled for each failure in a row: its
// own (tries counts those before this one), which other documents going out meanwhile do
// not reset, or the relay's batches', whichever is more. An event whose publish failed in a
// leader election thus goes out once the stream has a new leader, not a poll and a poll
// interval later. Once the delay would reach the poll interval, the failures are an outage
// (or a document that cannot be published): they are left to the poll, not read and
// published by both.
func (r *Relay) retryLater(ids []string, tries map[string]int) {
	if len(ids) == 0 {
		r.failures.Store(0)
		return
	}
	streak := int(r.failures.Add(1))
	for _, id := range ids {
		n := max(tries[id]+1, streak)
		delay := r.opts.RetryDelay << min(n-1, 16)
		if delay >= r.opts.PollInterval {
			continue
		}
		time.AfterFunc(delay, func() { r.notify(notice{id: id, tries: n}) })
	}
}

// queue queues rm's removal, and marks its document as having one in flight.
func (r *Relay) queue(rm removal) {
	r.queuedMu.Lock()
	r.queued[rm.doc.id]++
	r.queuedMu.Unlock()
	r.removals <- rm
}

// dequeued marks the removals of rms as done.
func (r *Relay) dequeued(rms []removal) {
	r.queuedMu.Lock()
	defer r.queuedMu.Unlock()
	for _, rm := range rms {
		if r.queued[rm.doc.id]--; r.queued[rm.doc.id] <= 0 {
			delete(r.queued, rm.doc.id)
		}
	}
}

// removing reports whether document id has a removal queued or running.
func (r *Relay) removing(id string) bool {
	r.queuedMu.Lock()
	defer r.queuedMu.Unlock()
	return r.queued[id] > 0
}

// removersPerWorker is how many removers run for each publishing worker. A publish batch
// takes one round trip to JetStream, its removals one write per document: on a busy store
// the removals need more writes in flight to keep up, or they fall behind, the documents
// stay flagged, and the polls publish and remove them again.
const removersPerWorker = 2

// removalBatch is the most removals one remover takes at once: enough to merge the removals
// of a document written often, few enough that the removers share a backlog and write in
// parallel rather than one of them taking it all.
const removalBatch = 16

// removeQueued takes published events out of their documents until the queue is closed: up
// to removalBatch waiting at once, merged per document, so that a document written often
// costs one removal for all its events published meanwhile, not one each.
func (r *Relay) removeQueued(ctx context.Context) {
	for rm := range r.removals {
		batch := []removal{rm}
	more:
		for len(batch) < removalBatch {
			select {
			case rm, ok := <-r.removals:
				if !ok {
					break more
				}
				batch = append(batch, rm)
			default:
				break more
			}
		}
		if err := r.remove(ctx, mergeRemovals(batch)); err != nil && ctx.Err() == nil {
			r.log.Warn("outbox removal failed; the poll will publish again and remove", "err", err)
		}
		r.dequeued(batch)
	}
}

// mergeRemovals makes one removal per document of rms, in the order of their first
// removal, of all its events published (each once).
func mergeRemovals(rms []removal) []removal {
	byID := make(map[string]int, len(rms))
	var out []removal
	for _, rm := range rms {
		i, seen := byID[rm.doc.id]
		if !seen {
			byID[rm.doc.id] = len(out)
			out = append(out, removal{doc: pendingDoc{id: rm.doc.id}})
			i = len(out) - 1
		}
		m := &out[i]
		for k := range rm.n {
			if slices.ContainsFunc(m.doc.envs, func(e Envelope) bool { return e.ID == rm.doc.envs[k].ID }) {
				continue
			}
			m.doc.envs = append(m.doc.envs, rm.doc.envs[k])
			m.doc.raw = append(m.doc.raw, rm.doc.raw[k])
			m.n++
		}
	}
	return out
}

// sortByCreation puts a document's events, notified by several writes, in the order of
// their creation: the order of the writes, for a document written under a version check.
func sortByCreation(d *pendingDoc) {
	idx := make([]int, len(d.envs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return d.envs[a].CreatedAt.Compare(d.envs[b].CreatedAt) })
	envs, raw := make([]Envelope, len(idx)), make([]bson.Raw, len(idx))
	for i, j := range idx {
		envs[i], raw[i] = d.envs[j], d.raw[j]
	}
	d.envs, d.raw = envs, raw
}

// Flush publishes every pending event of the collection's flagged documents.
func (r *Relay) Flush(ctx context.Context) error {
	return r.flush(ctx, bson.M{OutboxPendingField: true}, 0)
}

// flush publishes the events of the documents filter finds, except those of a document
// whose oldest event is younger than minAge (counted in the metrics all the same).
func (r *Relay) flush(ctx context.Context, filter bson.M, minAge time.Duration) error {
	cur, err := r.coll.Find(ctx, filter, options.Find().SetProjection(bson.M{OutboxField: 1}).SetLimit(1000))
	if err != nil {
		return err
	}
	var found []outboxDoc
	if err := cur.All(ctx, &found); err != nil {
		return err
	}
	var oldest time.Time
	pending := 0
	var errs []error
	docs := make([]pendingDoc, 0, len(found))
	for _, od := range found {
		d, err := od.pending()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pending += len(d.envs)
		if len(d.envs) > 0 && (oldest.IsZero() || d.envs[0].CreatedAt.Before(oldest)) {
			oldest = d.envs[0].CreatedAt
		}
		if minAge > 0 && len(d.envs) > 0 && time.Since(d.envs[0].CreatedAt) < minAge || r.removing(d.id) {
			continue
		}
		docs = append(docs, d)
	}
	outboxPending.WithLabelValues(r.coll.Name()).Set(float64(pending))
	if oldest.IsZero() {
		outboxOldest.WithLabelValues(r.coll.Name()).Set(0)
	} else {
		outboxOldest.WithLabelValues(r.coll.Name()).Set(time.Since(oldest).Seconds())
	}
	for batch := range slices.Chunk(docs, r.opts.BatchSize) {
		rms, err := r.publish(ctx, batch)
		errs = append(errs, err, r.remove(ctx, rms))
	}
	return errors.Join(errs...)
}

// publish publishes docs' events, all at once, and returns for each document the events
// to remove: those acknowledged before its first failure. A document with no events is
// returned too, to have its pending flag cleared.
func (r *Relay) publish(ctx context.Context, docs []pendingDoc) ([]removal, error) {
	var all []Envelope
	for _, d := range docs {
		all = append(all, d.envs...)
	}
	outcomes := r.conn.publishEach(ctx, all)
	var errs []error
	rms := make([]removal, 0, len(docs))
	for _, d := range docs {
		got := outcomes[:len(d.envs)]
		outcomes = outcomes[len(d.envs):]
		n := slices.IndexFunc(got, func(err error) bool { return err != nil })
		if n < 0 {
			n = len(got)
		} else {
			errs = append(errs, got[n])
			if n == 0 {
				continue
			}
		}
		rms = append(rms, removal{doc: d, n: n})
	}
	return rms, errors.Join(errs...)
}

// remove takes from each document of rms its first n events, one document at a time.
//
// Not in one bulk command: FerretDB (1.24) keeps a PostgreSQL connection for each statement
// of a multi-statement update until the whole command ends, and a few such commands at once
// exhausted its pool and hung the stand-in.
func (r *Relay) remove(ctx context.Context, rms []removal) error {
	var errs []error
	for _, rm := range rms {
		if r.opts.AfterPublish != nil && rm.n > 0 {
			if err := r.opts.AfterPublish(rm.doc.id); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := r.removeEvents(ctx, rm.doc, rm.n); err != nil {
			errs = append(errs, fmt.Errorf("outbox of %s: %w", rm.doc.id, err))
			continue
		}
		outboxPublished.WithLabelValues(r.coll.Name()).Add(float64(rm.n))
	}
	return errors.Join(errs...)
}

// removeEvents takes d's first n events out of its outbox: when they are all it holds, with
// one write that also clears the pending flag; otherwise by value, and then the flag is
// cleared if that left the outbox empty.
func (r *Relay) removeEvents(ctx context.Context, d pendingDoc, n int) error {
	if n == len(d.raw) {
		res, err := r.coll.UpdateOne(ctx,
			bson.M{"_id": d.id, OutboxField: d.raw},
			bson.M{"$set": bson.M{OutboxField: bson.A{}, OutboxPendingField: false}})
		if err != nil || res.MatchedCount == 1 {
			return err
		}
	}
	if n > 0 {
		if _, err := r.coll.UpdateOne(ctx, bson.M{"_id": d.id}, bson.M{"$pullAll": bson.M{OutboxField: d.raw[:n]}}); err != nil {
			return err
		}
	}
	_, err := r.coll.UpdateOne(ctx,
		bson.M{"_id": d.id, OutboxField: bson.A{}, OutboxPendingField: true},
		bson.M{"$set": bson.M{OutboxPendingField: false}})
	return err
}

// Package mongodb connects to MongoDB (or the stand-in) with the platform's settings.
package mongodb

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// commandsTotal counts the commands a service sends to the store, by service (the client's
// app name) and command: the cost of a request or event in store round trips.
var commandsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "ticketing_store_commands_total",
	Help: "Commands sent to MongoDB (or the stand-in), by service and command name; connection handshakes and heartbeats are not counted.",
}, []string{"service", "command"})

// countCommands is a command monitor counting each command started into commandsTotal.
func countCommands(service string) *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		commandsTotal.WithLabelValues(service, e.CommandName).Inc()
	}}
}

// Connect dials uri as appName, with majority writes, and waits until the server answers.
// Every command it sends is counted in ticketing_store_commands_total. Its reads go to the
// primary whatever the URI says: the services decide from what they read; only a collection
// handle with ListingReads' preference reads elsewhere.
func Connect(ctx context.Context, uri, appName string, maxPool uint64) (*mongo.Client, error) {
	if maxPool == 0 {
		maxPool = 100
	}
	opts := options.Client().ApplyURI(uri).
		SetAppName(appName).
		SetMonitor(countCommands(appName)).
		SetMaxPoolSize(maxPool).
		SetServerSelectionTimeout(10 * time.Second).
		SetTimeout(15 * time.Second).
		SetReadPreference(readpref.Primary())
	if opts.WriteConcern == nil {
		opts.SetWriteConcern(writeconcern.Majority())
	}
	c, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("mongodb: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := c.Ping(pctx, readpref.Primary()); err != nil {
		_ = c.Disconnect(context.Background())
		return nil, fmt.Errorf("mongodb: ping: %w", err)
	}
	return c, nil
}

// Ready pings the primary.
func Ready(c *mongo.Client) func(context.Context) error {
	return func(ctx context.Context) error { return c.Ping(ctx, readpref.Primary()) }
}

// IsDuplicate reports whether err is a unique-index violation.
func IsDuplicate(err error) bool { return mongo.IsDuplicateKeyError(err) }

// IsNotFound reports whether err says no document matched.
func IsNotFound(err error) bool { return errors.Is(err, mongo.ErrNoDocuments) }

// FindOne reads the document of coll that filter matches and returns it as as makes it:
// notFound when no document matches; any other error as "what: err", or as it is when what
// is empty.
func FindOne[D, T any](ctx context.Context, coll *mongo.Collection, filter any, notFound error, what string,
	as func(D) T, opts ...options.Lister[options.FindOneOptions]) (T, error) {
	var d D
	err := coll.FindOne(ctx, filter, opts...).Decode(&d)
	if err == nil {
		return as(d), nil
	}
	var zero T
	switch {
	case IsNotFound(err):
		return zero, notFound
	case what != "":
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	return zero, err
}

// Find reads the documents of coll that filter matches and returns them as as makes each
// (an empty, not nil, slice when none matches); an error as "what: err", or as it is when
// what is empty.
func Find[D, T any](ctx context.Context, coll *mongo.Collection, filter any, what string,
	as func(D) T, opts ...options.Lister[options.FindOptions]) ([]T, error) {
	wrap := func(err error) error {
		if what == "" {
			return err
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	cur, err := coll.Find(ctx, filter, opts...)
	if err != nil {
		return nil, wrap(err)
	}
	var docs []D
	if err := cur.All(ctx, &docs); err != nil {
		return nil, wrap(err)
	}
	out := make([]T, len(docs))
	for i, d := range docs {
		out[i] = as(d)
	}
	return out, nil
}

// EnsureIndexes creates each index unless it exists, one command per index: the stand-in's
// FerretDB fails a createIndexes of several indexes when some already exist.
func EnsureIndexes(ctx context.Context, coll *mongo.Collection, models ...mongo.IndexModel) error {
	for _, m := range models {
		if _, err := coll.Indexes().CreateOne(ctx, m); err != nil {
			return fmt.Errorf("index on %s: %w", coll.Name(), err)
		}
	}
	return nil
}

// ErrChanged says a conditional write matched nothing: the document changed since it was
// read.
var ErrChanged = errors.New("the document changed since it was read")

// Update is the read-decide-conditionally-write loop of an aggregate, as wild-workouts'
// UpdateHour(ctx, id, updateFn): read reads the document's current state, decide computes
// the next one from it (a pure domain transition), and write stores next only if the
// document is still as read, returning ErrChanged when it is not. Then Update reads and
// decides again, after a short random pause that grows with each attempt so that racing
// writers spread out, at most attempts times in all.
//
// It returns the state written. When read or write fails otherwise, it returns their error;
// when decide fails, the state read and decide's error as it is. After attempts lost races
// the error wraps ErrChanged.
func Update[T any](ctx context.Context, attempts int, read func(context.Context) (T, error),
	decide func(T) (T, error), write func(ctx context.Context, prev, next T) error) (T, error) {
	var zero T
	for attempt := range attempts {
		if attempt > 0 {
			if err := pause(ctx, attempt); err != nil {
				return zero, err
			}
		}
		prev, err := read(ctx)
		if err != nil {
			return zero, err
		}
		next, err := decide(prev)
		if err != nil {
			return prev, err
		}
		err = write(ctx, prev, next)
		if errors.Is(err, ErrChanged) {
			continue
		}
		if err != nil {
			return zero, err
		}
		return next, nil
	}
	return zero, fmt.Errorf("gave up after %d attempts: %w", attempts, ErrChanged)
}

// pause waits a short random time that grows with the attempt: up to 2, 4, ... 50 ms.
func pause(ctx context.Context, attempt int) error {
	ceiling := time.Duration(min(1<<min(attempt, 6), 50)) * time.Millisecond
	t := time.NewTimer(rand.N(ceiling) + time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

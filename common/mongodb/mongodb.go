// Package mongodb connects to MongoDB (or the stand-in) with the platform's settings.
package mongodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Connect dials uri as appName, with majority writes, and waits until the server answers.
func Connect(ctx context.Context, uri, appName string, maxPool uint64) (*mongo.Client, error) {
	if maxPool == 0 {
		maxPool = 100
	}
	opts := options.Client().ApplyURI(uri).
		SetAppName(appName).
		SetMaxPoolSize(maxPool).
		SetServerSelectionTimeout(10 * time.Second).
		SetTimeout(15 * time.Second)
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

// Package store keeps the auth service's accounts in MongoDB.
package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing/common/bus"
	"ticketing/common/events"
	"ticketing/common/mongodb"
	"ticketing/services/auth/internal/user"
)

// Collection is the name of the accounts' collection.
const Collection = "users"

// emailIndex is the unique index that makes emails unique, whatever the concurrency.
const emailIndex = "email_unique"

// Users is the MongoDB repository of accounts (app.Repository). An account's document
// carries the outbox of the events about it (its sessions' revocations).
type Users struct {
	coll   *mongo.Collection
	writer *bus.Writer
}

// NewUsers keeps accounts in db; the events written are handed to relay (nil: they wait for
// a relay's poll).
func NewUsers(db *mongo.Database, relay bus.Notifier) *Users {
	coll := db.Collection(Collection)
	return &Users{coll: coll, writer: bus.NewWriter(coll, relay)}
}

// userDoc is an account as stored.
type userDoc struct {
	ID           string    `bson:"_id"`
	Email        string    `bson:"email"` // normalised
	PasswordHash string    `bson:"passwordHash"`
	CreatedAt    time.Time `bson:"createdAt"`
}

func (d userDoc) user() user.User {
	return user.User{ID: d.ID, Email: d.Email, PasswordHash: d.PasswordHash, CreatedAt: d.CreatedAt}
}

// EnsureIndexes creates the unique index on email (idempotent).
func (s *Users) EnsureIndexes(ctx context.Context) error {
	err := mongodb.EnsureIndexes(ctx, s.coll, mongo.IndexModel{
		Keys:    bson.D{{Key: "email", Value: 1}},
		Options: options.Index().SetUnique(true).SetName(emailIndex),
	})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Create inserts a new account with a fresh id; user.ErrEmailTaken when the unique index
// refuses its email.
func (s *Users) Create(ctx context.Context, u user.User) (user.User, error) {
	u.ID = bson.NewObjectID().Hex()
	_, err := s.coll.InsertOne(ctx, userDoc{ID: u.ID, Email: u.Email, PasswordHash: u.PasswordHash, CreatedAt: u.CreatedAt.UTC()})
	switch {
	case mongodb.IsDuplicate(err):
		return user.User{}, user.ErrEmailTaken
	case err != nil:
		return user.User{}, fmt.Errorf("store: insert user: %w", err)
	}
	return u, nil
}

// ByEmail finds the account of a normalised email; user.ErrNotFound when there is none.
func (s *Users) ByEmail(ctx context.Context, email string) (user.User, error) {
	return mongodb.FindOne(ctx, s.coll, bson.M{"email": email}, user.ErrNotFound, "store: find user by email", userDoc.user)
}

// ByID finds an account by id; user.ErrNotFound when there is none.
func (s *Users) ByID(ctx context.Context, id string) (user.User, error) {
	return mongodb.FindOne(ctx, s.coll, bson.M{"_id": id}, user.ErrNotFound, "store: find user by id", userDoc.user)
}

// Revoke records a revocation of the account's sessions: e goes to the account's outbox, to
// be published. user.ErrNotFound when there is no such account.
func (s *Users) Revoke(ctx context.Context, id string, e events.SessionRevoked) error {
	ok, err := s.writer.Update(ctx, id, nil, bson.M{}, e)
	switch {
	case err != nil:
		return fmt.Errorf("store: revoke: %w", err)
	case !ok:
		return user.ErrNotFound
	}
	return nil
}

// ChangePassword replaces the account's hash, if it is still old, and records e (the
// revocation of the sessions opened with the old password) in the same write.
// user.ErrNotFound when the account is gone or its hash changed meanwhile.
func (s *Users) ChangePassword(ctx context.Context, id, old, new string, e events.SessionRevoked) error {
	ok, err := s.writer.Update(ctx, id, bson.D{{Key: "passwordHash", Value: old}}, bson.M{"$set": bson.M{"passwordHash": new}}, e)
	switch {
	case err != nil:
		return fmt.Errorf("store: change password: %w", err)
	case !ok:
		return user.ErrNotFound
	}
	return nil
}

// SetPasswordHash replaces the hash of account id if it is still old (a concurrent change
// wins); user.ErrNotFound when it is not.
func (s *Users) SetPasswordHash(ctx context.Context, id, old, new string) error {
	res, err := s.coll.UpdateOne(ctx, bson.M{"_id": id, "passwordHash": old}, bson.M{"$set": bson.M{"passwordHash": new}})
	if err != nil {
		return fmt.Errorf("store: update password hash: %w", err)
	}
	if res.MatchedCount == 0 {
		return user.ErrNotFound
	}
	return nil
}

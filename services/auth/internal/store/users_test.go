package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing/common/testkit"
	"ticketing/services/auth/internal/user"
)

func newUsers(t *testing.T) *Users {
	t.Helper()
	s := NewUsers(testkit.Mongo(t), nil)
	if err := s.EnsureIndexes(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureIndexes(t.Context()); err != nil {
		t.Fatalf("EnsureIndexes is not idempotent: %v", err)
	}
	return s
}

func TestCreateAndFind(t *testing.T) {
	s := newUsers(t)
	ctx := t.Context()
	created := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	u, err := s.Create(ctx, user.User{Email: "ann@test.com", PasswordHash: "$argon2id$x", CreatedAt: created})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bson.ObjectIDFromHex(u.ID); err != nil {
		t.Errorf("id %q is not an ObjectID hex", u.ID)
	}
	got, err := s.ByEmail(ctx, "ann@test.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != u.ID || got.Email != u.Email || got.PasswordHash != u.PasswordHash || !got.CreatedAt.Equal(created) {
		t.Errorf("ByEmail = %+v, want %+v", got, u)
	}
	if _, err := s.ByEmail(ctx, "bob@test.com"); !errors.Is(err, user.ErrNotFound) {
		t.Errorf("ByEmail(unknown) = %v, want ErrNotFound", err)
	}
}

func TestDuplicateEmailIsTaken(t *testing.T) {
	s := newUsers(t)
	ctx := t.Context()
	if _, err := s.Create(ctx, user.User{Email: "ann@test.com", PasswordHash: "h1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, user.User{Email: "ann@test.com", PasswordHash: "h2"}); err != user.ErrEmailTaken {
		t.Errorf("second Create = %v, want ErrEmailTaken", err)
	}
	if got, _ := s.ByEmail(ctx, "ann@test.com"); got.PasswordHash != "h1" {
		t.Errorf("the first account was overwritten: %+v", got)
	}
}

func TestSetPasswordHashIsConditional(t *testing.T) {
	s := newUsers(t)
	ctx := t.Context()
	u, err := s.Create(ctx, user.User{Email: "ann@test.com", PasswordHash: "old"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPasswordHash(ctx, u.ID, "stale", "new"); !errors.Is(err, user.ErrNotFound) {
		t.Errorf("SetPasswordHash with a stale hash = %v, want ErrNotFound", err)
	}
	if err := s.SetPasswordHash(ctx, u.ID, "old", "new"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ByEmail(ctx, "ann@test.com"); got.PasswordHash != "new" {
		t.Errorf("hash = %q, want new", got.PasswordHash)
	}
}

// Every query the store makes is answered from an index (checked on MongoDB and on the
// stand-in's PostgreSQL backend; `make test` runs the store's tests on both stand-in backends).
func TestEveryQueryUsesAnIndex(t *testing.T) {
	testkit.EveryQueryIndexed(t, func(db *mongo.Database) *Users { return NewUsers(db, nil) }, func(ctx context.Context, s *Users) {
		u, err := s.Create(ctx, user.User{Email: "ann@test.com", PasswordHash: "$argon2id$x", CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ByEmail(ctx, "ann@test.com"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPasswordHash(ctx, u.ID, "$argon2id$x", "$argon2id$y"); err != nil {
			t.Fatal(err)
		}
	})
}

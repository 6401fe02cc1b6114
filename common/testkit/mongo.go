package testkit

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing/common/bus"
	"ticketing/common/standin"
)

// Environment variables that select the MongoDB the tests use.
const (
	// EnvMongoURI points the tests at a real MongoDB instead of the stand-in.
	EnvMongoURI = "MONGODB_URI"
	// EnvMongoBackend selects the stand-in's backend: "sqlite" (the default)
	// or "postgresql".
	EnvMongoBackend = "TESTKIT_MONGO_BACKEND"
	// EnvPostgresURL is the PostgreSQL server of the "postgresql" backend;
	// each test binary stores into a fresh database created on it.
	EnvPostgresURL = "TESTKIT_POSTGRES_URL"
)

// DefaultPostgresURL is used when EnvPostgresURL is unset. Its pool of 24
// connections (16 commands in flight through the gate) keeps two test binaries
// at once well under PostgreSQL's default 100 connections.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?pool_max_conns=24"

// Name prefixes of what the stand-in leaves behind (the test binary exits
// without a hook to remove them); a later run removes those whose process is
// gone.
const (
	sqliteDirPrefix  = "testkit-mongo-" // + pid + "-" + random, in os.TempDir()
	postgresDBPrefix = "testkit_"       // + pid + "_" + random
)

type sharedMongo struct {
	uri    string
	client *mongo.Client
}

// mongoOnce connects, once per test binary, to MONGODB_URI or a stand-in it
// starts. Neither is ever closed: they serve the whole binary.
var mongoOnce = sync.OnceValues(func() (*sharedMongo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	uri := os.Getenv(EnvMongoURI)
	if uri == "" {
		srv, err := startStandin(ctx)
		if err != nil {
			return nil, err
		}
		uri = srv.URI()
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err == nil {
		err = client.Ping(ctx, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("testkit: connect to MongoDB: %w", err)
	}
	return &sharedMongo{uri: uri, client: client}, nil
})

func mustMongo(t testing.TB) *sharedMongo {
	t.Helper()
	m, err := mongoOnce()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// MongoURI returns the URI of the MongoDB the tests use: MONGODB_URI, or the
// gate of the binary's stand-in. Tests sharing it must keep to their own
// databases; see [Mongo].
func MongoURI(t testing.TB) string {
	t.Helper()
	return mustMongo(t).uri
}

// MongoClient returns the client shared by the test binary. Do not disconnect it.
func MongoClient(t testing.TB) *mongo.Client {
	t.Helper()
	return mustMongo(t).client
}

// Mongo returns a database that belongs to t alone, with a fresh unique name,
// dropped when t ends.
func Mongo(t testing.TB) *mongo.Database {
	t.Helper()
	db := MongoClient(t).Database(databaseName(t.Name()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			t.Errorf("testkit: drop database %s: %v", db.Name(), err)
		}
	})
	return db
}

// databaseName derives a unique database name from a test name, within the
// stand-in's limits ([a-z0-9_-], at most 63 characters).
func databaseName(testName string) string {
	name := []byte(strings.ToLower(testName))
	for i, c := range name {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			name[i] = '_'
		}
	}
	return "t_" + string(name[:min(len(name), 40)]) + "_" + randomHex(4)
}

// startStandin starts the binary's gated FerretDB with the backend that
// EnvMongoBackend selects.
func startStandin(ctx context.Context) (*standin.Server, error) {
	opts := standin.Options{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	switch backend := os.Getenv(EnvMongoBackend); backend {
	case "", standin.BackendSQLite:
		removeLeftoverDirs()
		dir, err := os.MkdirTemp("", sqliteDirPrefix+strconv.Itoa(os.Getpid())+"-")
		if err != nil {
			return nil, fmt.Errorf("testkit: %w", err)
		}
		opts.Dir = dir
	case standin.BackendPostgreSQL:
		u, err := freshPostgresDB(ctx, cmp.Or(os.Getenv(EnvPostgresURL), DefaultPostgresURL))
		if err != nil {
			return nil, err
		}
		opts.Backend, opts.PostgreSQLURL = backend, u
	default:
		return nil, fmt.Errorf("testkit: %s=%q: want %q or %q", EnvMongoBackend, backend, standin.BackendSQLite, standin.BackendPostgreSQL)
	}
	return standin.Start(ctx, opts)
}

// freshPostgresDB creates a database for this test binary on the server of
// base and returns base pointing at it.
func freshPostgresDB(ctx context.Context, base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("testkit: %s: %w", EnvPostgresURL, err)
	}
	conn, err := pgx.Connect(ctx, standin.WithoutPoolParams(base))
	if err != nil {
		return "", fmt.Errorf("testkit: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())

	if host := u.Hostname(); host == "" || host == "localhost" || net.ParseIP(host).IsLoopback() {
		dropLeftoverDBs(ctx, conn) // only on this machine: process ids mean nothing elsewhere
	}
	name := postgresDBPrefix + strconv.Itoa(os.Getpid()) + "_" + randomHex(4)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("testkit: create PostgreSQL database: %w", err)
	}
	// Tests' tables are small, and PostgreSQL would scan them rather than use an index:
	// plan as for big ones, so that explain tells whether an index serves a query.
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" SET enable_seqscan = off"); err != nil {
		return "", fmt.Errorf("testkit: set up PostgreSQL database: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// dropLeftoverDBs drops the databases of earlier test binaries that have
// exited. Failures are ignored: a database in use cannot be dropped.
func dropLeftoverDBs(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, postgresDBPrefix)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		if ownerGone(strings.TrimPrefix(name, postgresDBPrefix), "_") {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
		}
	}
}

// removeLeftoverDirs removes the SQLite directories of earlier test binaries
// that have exited.
func removeLeftoverDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), sqliteDirPrefix+"*"))
	for _, dir := range dirs {
		if ownerGone(strings.TrimPrefix(filepath.Base(dir), sqliteDirPrefix), "-") {
			_ = os.RemoveAll(dir)
		}
	}
}

// ownerGone reports whether rest, a leftover's name after its prefix, starts
// with "<pid><sep>" for a process that no longer runs.
func ownerGone(rest, sep string) bool {
	s, _, ok := strings.Cut(rest, sep)
	pid, err := strconv.Atoi(s)
	return ok && err == nil && pid != os.Getpid() && !processAlive(pid)
}

// Indexed is a service's store, made by newStore on a fresh database ([Mongo]), with its
// indexes ensured twice: a restart or a second replica ensures them again, which must
// succeed too.
func Indexed[S interface {
	EnsureIndexes(context.Context) error
}](t testing.TB, newStore func(*mongo.Database) S) S {
	t.Helper()
	st := newStore(Mongo(t))
	for range 2 {
		if err := st.EnsureIndexes(t.Context()); err != nil {
			t.Fatalf("testkit: ensure indexes: %v", err)
		}
	}
	return st
}

// Stored is the document id of coll as it is stored, decoded into a T; it fails t when
// there is none.
func Stored[T any](t testing.TB, coll *mongo.Collection, id string) T {
	t.Helper()
	var d T
	if err := coll.FindOne(context.Background(), bson.M{"_id": id}).Decode(&d); err != nil {
		t.Fatalf("testkit: read %s %s: %v", coll.Name(), id, err)
	}
	return d
}

// Outbox is the events waiting in the outbox of document id of coll (bus.OutboxField), as
// the relay would read them; it fails t when there is no such document.
func Outbox(t testing.TB, coll *mongo.Collection, id string) []bus.Envelope {
	t.Helper()
	return Stored[struct {
		Outbox []bus.Envelope `bson:"outbox"`
	}](t, coll, id).Outbox
}

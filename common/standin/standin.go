// Package standin runs the MongoDB stand-in used by the tests and the dev
// stack where no MongoDB server exists: an embedded FerretDB (v1.24.2, SQLite
// or PostgreSQL backend) behind a gate that lets one write at a time through
// per document (per database on SQLite), reads freely, and at most 32
// commands at once (fewer for a small PostgreSQL pool).
//
// The gate is what makes the stand-in honour MongoDB's single-document
// atomicity: FerretDB runs a conditional update as a read followed by a write
// by _id, so without the gate several racing findOneAndUpdate({_id, version})
// calls all succeed. Never hand out FerretDB's own address; use [Server.URI].
//
// On PostgreSQL the stand-in also makes FerretDB's queries use indexes: GIN
// twins of its btree indexes (pgindex.go) and custom plans (ferretURL).
//
// The stand-in lacks transactions, change streams, TTL, partial and sparse
// indexes, and it is slow; see README.md ("Testing").
package standin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Backends of FerretDB that [Options.Backend] selects.
const (
	BackendSQLite     = "sqlite"
	BackendPostgreSQL = "postgresql"
)

// inFlight is how many commands the gate lets through to FerretDB at once,
// reads included, for a pool of poolMax PostgreSQL connections: at most 32, and
// two thirds of the pool. A command takes a connection from FerretDB's pool and
// a single-statement write a second one (its query's, then its write's): with
// fewer connections than commands in flight plus one, every connection can be
// held by a command waiting for its second, and the stand-in hangs. The rest of
// the pool is for open cursors. (A multi-statement update holds one connection
// per statement until it ends, so a few large ones can still exhaust the pool:
// the services send none.) PostgreSQL refuses connections beyond
// max_connections, 100 by default, which a pool of 200 exceeded in the bench.
func inFlight(poolMax int) int {
	return max(1, min(32, poolMax*2/3))
}

// defaultPoolMaxConns replaces FerretDB's default pool_max_conns (50).
const defaultPoolMaxConns = "48"

// Options configure [Start].
type Options struct {
	// Dir holds the SQLite backend's files, one per database; it is created
	// if missing and kept by Close. Empty means a temporary directory that
	// Close removes.
	Dir string

	// Backend is BackendSQLite (the default when empty) or BackendPostgreSQL.
	Backend string

	// PostgreSQLURL is the database the PostgreSQL backend stores into, for
	// example postgres://postgres@127.0.0.1:5432/ferretdb. pool_max_conns is
	// set to 48 unless the URL gives it.
	PostgreSQLURL string

	// Logger receives the stand-in's logs; nil means slog.Default(). Unless
	// Logger is enabled at Debug, FerretDB's own records pass only at Warn and
	// above, and without its dumps of failed commands (the client gets the
	// error anyway).
	Logger *slog.Logger
}

// Server is a running stand-in. Close it to stop FerretDB and the gate.
type Server struct {
	gate      *gate
	ferretURI string             // FerretDB's own, ungated address; tests only
	stop      context.CancelFunc // stops FerretDB
	stopped   chan struct{}      // closed when FerretDB has stopped
	tempDir   string             // removed by Close when non-empty
	closeOnce sync.Once
}

// newMu serialises ferretdb.New, which writes a package-level variable.
var newMu sync.Mutex

// Start runs FerretDB on a random 127.0.0.1 port with the chosen backend, puts
// the gate in front of it on another, and pings through the gate. ctx bounds
// the start only; the server runs until Close.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{stopped: make(chan struct{})}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	cfg := ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:   ferretLogger(log),
	}
	switch opts.Backend {
	case "", BackendSQLite:
		dir := opts.Dir
		if dir == "" {
			if dir, err = os.MkdirTemp("", "standin-sqlite-"); err != nil {
				return nil, fmt.Errorf("standin: %w", err)
			}
			s.tempDir = dir
		} else if err = os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("standin: %w", err)
		}
		if dir, err = filepath.Abs(dir); err != nil {
			return nil, fmt.Errorf("standin: %w", err)
		}
		cfg.Handler = BackendSQLite
		cfg.SQLiteURL = (&url.URL{Scheme: "file", Opaque: filepath.ToSlash(dir) + "/"}).String()
	case BackendPostgreSQL:
		if cfg.PostgreSQLURL, err = ferretURL(opts.PostgreSQLURL); err != nil {
			return nil, err
		}
		cfg.Handler = BackendPostgreSQL
		if err := installGINTwins(ctx, WithoutPoolParams(cfg.PostgreSQLURL)); err != nil {
			log.Warn("standin: every query will scan its whole table", "err", err)
		}
	default:
		return nil, fmt.Errorf("standin: unknown backend %q (want %q or %q)", opts.Backend, BackendSQLite, BackendPostgreSQL)
	}

	newMu.Lock()
	f, err := ferretdb.New(&cfg)
	newMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("standin: start FerretDB: %w", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go func() {
		defer close(s.stopped)
		_ = f.Run(runCtx)
	}()
	s.ferretURI = f.MongoDBURI()

	u, err := url.Parse(s.ferretURI)
	if err != nil {
		return nil, fmt.Errorf("standin: FerretDB URI: %w", err)
	}
	slots := 32 // SQLite: the gate serialises writes per database anyway
	if cfg.Handler == BackendPostgreSQL {
		slots = inFlight(poolMaxConns(cfg.PostgreSQLURL))
	}
	if s.gate, err = newGate(u.Host, cfg.Handler != BackendPostgreSQL, slots, log); err != nil {
		return nil, err
	}
	if err = ping(ctx, s.URI()); err != nil {
		return nil, fmt.Errorf("standin: FerretDB (%s backend) does not answer: %w", cfg.Handler, err)
	}
	log.Debug("standin: MongoDB stand-in started", "uri", s.URI(), "backend", cfg.Handler)
	return s, nil
}

// URI returns the mongodb:// URI of the gate, for go.mongodb.org/mongo-driver/v2.
func (s *Server) URI() string {
	return "mongodb://" + s.gate.addr() + "/"
}

// Close closes every client connection, stops FerretDB, frees both ports and
// removes the temporary SQLite directory, if any. It is safe to call twice.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		if s.gate != nil {
			s.gate.close() // first: FerretDB then sees its connections end and stops at once
		}
		if s.stop != nil {
			s.stop()
			<-s.stopped
		}
		if s.tempDir != "" {
			_ = os.RemoveAll(s.tempDir)
		}
	})
}

// ping checks, through the gate, that FerretDB answers and its backend works.
func ping(ctx context.Context, uri string) error {
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return err
	}
	defer func() { _ = c.Disconnect(context.Background()) }()
	return c.Ping(ctx, nil) // FerretDB's ping queries the backend's status

}

// ferretURL returns u with the settings FerretDB's connections need, unless u
// gives them:
//   - pool_max_conns (see defaultPoolMaxConns);
//   - plan_cache_mode=force_custom_plan: FerretDB filters with the field name as
//     a bind parameter (_jsonb->$1 @> $2), and once PostgreSQL switches a
//     prepared statement to its generic plan no index matches that expression:
//     every find became a sequential scan after its fifth run;
//   - sslmode=disable for a server on the loopback interface: pgx prefers TLS,
//     and encrypting every query on loopback cost the stand-in's process about
//     8% of its CPU under load (and PostgreSQL as much).
func ferretURL(u string) (string, error) {
	if u == "" {
		return "", errors.New("standin: the postgresql backend needs PostgreSQLURL")
	}
	pu, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("standin: PostgreSQLURL: %w", err)
	}
	q := pu.Query()
	if !q.Has("pool_max_conns") {
		q.Set("pool_max_conns", defaultPoolMaxConns)
	}
	if !q.Has("plan_cache_mode") {
		q.Set("plan_cache_mode", "force_custom_plan")
	}
	if host := pu.Hostname(); !q.Has("sslmode") && (host == "localhost" || net.ParseIP(host).IsLoopback()) {
		q.Set("sslmode", "disable")
	}
	pu.RawQuery = q.Encode()
	return pu.String(), nil
}

// poolMaxConns is u's pool_max_conns (ferretURL sets it).
func poolMaxConns(u string) int {
	pu, err := url.Parse(u)
	if err != nil {
		return 1
	}
	n, err := strconv.Atoi(pu.Query().Get("pool_max_conns"))
	if err != nil {
		return 1
	}
	return n
}

// WithoutPoolParams returns u without pgxpool's own parameters (pool_max_conns and the
// like), which a single connection would send to the server as settings.
func WithoutPoolParams(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := pu.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	pu.RawQuery = q.Encode()
	return pu.String()
}

// ferretLogger returns the logger FerretDB gets: log itself when it is
// enabled at Debug, otherwise log restricted to Warn and above, without the
// dumps of failed commands' replies (FerretDB logs each at Warn, though the
// client receives the error anyway; the driver's endSessions, which FerretDB
// lacks, fails at every disconnect).
func ferretLogger(log *slog.Logger) *slog.Logger {
	log = log.With("component", "ferretdb")
	if log.Enabled(context.Background(), slog.LevelDebug) {
		return log
	}
	return slog.New(quiet{log.Handler()})
}

// quiet is a slog.Handler that drops records below Warn, and FerretDB's
// dumps of failed commands' replies.
type quiet struct{ slog.Handler }

func (h quiet) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h quiet) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError && strings.HasPrefix(r.Message, "Response ") {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quiet) WithAttrs(as []slog.Attr) slog.Handler { return quiet{h.Handler.WithAttrs(as)} }

func (h quiet) WithGroup(name string) slog.Handler { return quiet{h.Handler.WithGroup(name)} }

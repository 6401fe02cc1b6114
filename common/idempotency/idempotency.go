// Package idempotency makes a POST safe to retry: a request that carries an Idempotency-Key
// header is handled once per key and user, and a retry within the retention (24 hours) gets
// the first response again, status and body, from whichever replica it reaches. The records
// live in the service's own MongoDB, one document per (user, key), so replicas share them:
//
//   - the first request inserts the record as running, is handled, and stores its response
//     (a 5xx is not stored: the record is removed and a retry runs again);
//   - a retry with the same method, path and body gets the stored response, with
//     Idempotent-Replayed: true;
//   - the same key with another request is 422; a retry while the first still runs is 409.
//
// A record left running by a replica that died is taken over once its lock lapses. Records
// past the retention are ignored, and removed by Purge, which each service runs every
// PurgeInterval.
package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing/common/authn"
	"ticketing/common/errs"
	"ticketing/common/mongodb"
	"ticketing/common/web"
)

// Header is the request header that carries the key; ReplayedHeader marks a replayed answer.
const (
	Header         = "Idempotency-Key"
	ReplayedHeader = "Idempotent-Replayed"
	MaxKeyLen      = 255
)

// Collection is the collection of the records in the service's database.
const Collection = "idempotency"

// Defaults of Options.
const (
	DefaultRetention = 24 * time.Hour
	DefaultLock      = time.Minute
)

// Options tune a Store.
type Options struct {
	Retention time.Duration    // how long a response is replayed; DefaultRetention
	Lock      time.Duration    // how long a running request holds its key; DefaultLock
	Now       func() time.Time // time.Now
	Logger    *slog.Logger
}

// Store keeps the records. A nil *Store passes every request through (its Middleware does
// nothing), for routers built without a database.
type Store struct {
	coll *mongo.Collection
	opts Options
}

// New is the store of db's idempotency collection.
func New(db *mongo.Database, opts Options) *Store {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Lock <= 0 {
		opts.Lock = DefaultLock
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Store{coll: db.Collection(Collection), opts: opts}
}

// PurgeInterval is how often a service runs Purge.
const PurgeInterval = 10 * time.Minute

// EnsureIndexes creates the index of Purge. (Not a TTL index: the MongoDB stand-in has none.)
func (s *Store) EnsureIndexes(ctx context.Context) error {
	return mongodb.EnsureIndexes(ctx, s.coll, mongo.IndexModel{
		Keys:    bson.D{{Key: "createdAt", Value: 1}},
		Options: options.Index().SetName("createdAt"),
	})
}

// Purge removes the records past the retention (which the middleware already ignores).
func (s *Store) Purge(ctx context.Context) error {
	_, err := s.coll.DeleteMany(ctx, bson.M{"createdAt": bson.M{"$lt": s.opts.Now().Add(-s.opts.Retention)}})
	return err
}

type record struct {
	ID        string    `bson:"_id"`
	Request   string    `bson:"request"` // hash of method, path and body
	Done      bool      `bson:"done"`
	LockUntil time.Time `bson:"lockUntil"`
	CreatedAt time.Time `bson:"createdAt"`
	Status    int       `bson:"status,omitempty"`
	Header    bson.M    `bson:"header,omitempty"`
	Body      []byte    `bson:"body,omitempty"`
}

// replayed are the response headers stored with the response.
var replayed = []string{"Content-Type", "Location"}

// Middleware handles the requests that carry Idempotency-Key once per key and signed-in
// user; others pass through. It must run after the authentication (a request without a
// user passes through, to be refused by the handler).
func (s *Store) Middleware(next http.Handler) http.Handler {
	if s == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(Header)
		user, ok := authn.UserFrom(r.Context())
		if key == "" || !ok {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > MaxKeyLen {
			web.Error(w, r, errs.Field(Header, "Idempotency-Key must be 1 to 255 characters"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, web.MaxBody))
		if err != nil {
			web.Error(w, r, errs.New(errs.TooLarge, "Request body must not exceed %d bytes", web.MaxBody))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		id := digest(user.ID, key)
		req := digest(r.Method, r.URL.Path, string(body))
		ctx := context.WithoutCancel(r.Context())

		rec, err := s.claim(ctx, id, req)
		switch {
		case err != nil:
			web.Error(w, r, errs.Wrap(errs.Internal, err, ""))
			return
		case rec != nil && rec.Request != req:
			web.Error(w, r, errs.New(errs.Unprocessable, "Idempotency-Key was already used with another request"))
			return
		case rec != nil && rec.Done:
			for k, v := range rec.Header {
				if s, ok := v.(string); ok {
					w.Header().Set(k, s)
				}
			}
			w.Header().Set(ReplayedHeader, "true")
			w.WriteHeader(rec.Status)
			_, _ = w.Write(rec.Body)
			return
		case rec != nil:
			web.Error(w, r, errs.New(errs.Conflict, "A request with this Idempotency-Key is still being handled"))
			return
		}

		rw := &recorder{ResponseWriter: w}
		next.ServeHTTP(rw, r)
		s.finish(ctx, id, req, rw)
	})
}

// claim takes the key for this request: it inserts a running record, or takes over a
// record whose lock lapsed before it was done, or one past the retention. It returns nil
// when the caller must handle the request, else the record that stands.
func (s *Store) claim(ctx context.Context, id, req string) (*record, error) {
	now := s.opts.Now().UTC()
	for range 3 {
		_, err := s.coll.InsertOne(ctx, record{ID: id, Request: req, LockUntil: now.Add(s.opts.Lock), CreatedAt: now})
		if err == nil {
			return nil, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return nil, err
		}
		var rec record
		err = s.coll.FindOne(ctx, bson.M{"_id": id}).Decode(&rec)
		if mongodb.IsNotFound(err) {
			continue // removed meanwhile (a 5xx, or the expiry): insert again
		}
		if err != nil {
			return nil, err
		}
		expired := rec.CreatedAt.Add(s.opts.Retention).Before(now)
		stale := !rec.Done && rec.LockUntil.Before(now) && rec.Request == req
		if !expired && !stale {
			return &rec, nil
		}
		// Take it over, conditional on it being as read (another replica may be doing the same).
		res, err := s.coll.UpdateOne(ctx,
			bson.M{"_id": id, "lockUntil": rec.LockUntil, "createdAt": rec.CreatedAt, "done": rec.Done},
			bson.M{"$set": bson.M{"request": req, "done": false, "lockUntil": now.Add(s.opts.Lock), "createdAt": now},
				"$unset": bson.M{"status": "", "header": "", "body": ""}})
		if err != nil {
			return nil, err
		}
		if res.ModifiedCount == 1 {
			return nil, nil
		}
	}
	return nil, errors.New("idempotency: the record kept changing")
}

// finish stores the response of the request that held the key; a 5xx frees the key instead.
func (s *Store) finish(ctx context.Context, id, req string, rw *recorder) {
	status := rw.status
	if status == 0 {
		status = http.StatusOK
	}
	if status >= 500 {
		if _, err := s.coll.DeleteOne(ctx, bson.M{"_id": id, "request": req, "done": false}); err != nil {
			s.opts.Logger.WarnContext(ctx, "free an idempotency key after a fault; it frees itself when its lock lapses", "err", err)
		}
		return
	}
	h := bson.M{}
	for _, k := range replayed {
		if v := rw.Header().Get(k); v != "" {
			h[k] = v
		}
	}
	_, err := s.coll.UpdateOne(ctx, bson.M{"_id": id, "request": req, "done": false},
		bson.M{"$set": bson.M{"done": true, "status": status, "header": h, "body": rw.body.Bytes()}})
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "store the response of an idempotent request; a retry after the lock lapses runs it again", "err", err)
	}
}

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// recorder passes the response through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

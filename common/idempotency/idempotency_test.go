package idempotency_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ticketing/common/authn"
	"ticketing/common/idempotency"
	"ticketing/common/testkit"
)

// server is a POST handler behind the middleware that counts its calls, answers 201 with a
// body naming the call, and (when block is set) waits for it to close; the user is the
// X-User header (standing in for the authentication).
type server struct {
	calls atomic.Int64
	block chan struct{}
	fail  atomic.Bool
}

func (s *server) handler(store *idempotency.Store) http.Handler {
	h := store.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		if s.block != nil {
			<-s.block
		}
		if s.fail.Load() {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/things/"+string(rune('0'+n)))
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"call":` + string(rune('0'+n)) + `,"body":` + string(body) + `}`))
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-User"); u != "" {
			r = r.WithContext(authn.WithUser(r.Context(), authn.User{ID: u}))
		}
		h.ServeHTTP(w, r)
	})
}

type answer struct {
	status   int
	body     string
	location string
	replayed bool
}

func post(t *testing.T, url, user, key, body string) answer {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/things", strings.NewReader(body))
	req.Header.Set("X-User", user)
	if key != "" {
		req.Header.Set(idempotency.Header, key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, string(b), res.Header.Get("Location"), res.Header.Get(idempotency.ReplayedHeader) == "true"}
}

// Two "replicas" (two servers on one database): a retry gets the first answer from either;
// another body is 422; another user, or no key, is a request of its own; a fault is not kept.
func TestReplay(t *testing.T) {
	db := testkit.Mongo(t)
	st := idempotency.New(db, idempotency.Options{})
	if err := st.EnsureIndexes(context.Background()); err != nil {
		t.Fatal(err)
	}
	var s server
	a := httptest.NewServer(s.handler(st))
	defer a.Close()
	b := httptest.NewServer(s.handler(idempotency.New(db, idempotency.Options{})))
	defer b.Close()

	first := post(t, a.URL, "alice", "k1", `{"x":1}`)
	if first.status != 201 || first.replayed {
		t.Fatalf("first: %+v", first)
	}
	for _, url := range []string{a.URL, b.URL} {
		again := post(t, url, "alice", "k1", `{"x":1}`)
		if again.status != 201 || again.body != first.body || again.location != first.location || !again.replayed {
			t.Errorf("retry on %s: %+v, want %+v replayed", url, again, first)
		}
	}
	if got := post(t, b.URL, "alice", "k1", `{"x":2}`); got.status != http.StatusUnprocessableEntity {
		t.Errorf("another body: %+v", got)
	}
	if got := post(t, b.URL, "bob", "k1", `{"x":1}`); got.status != 201 || got.replayed {
		t.Errorf("another user: %+v", got)
	}
	if got := post(t, a.URL, "alice", "", `{"x":1}`); got.status != 201 || got.replayed {
		t.Errorf("no key: %+v", got)
	}
	if got := post(t, a.URL, "alice", strings.Repeat("k", 256), `{}`); got.status != 400 {
		t.Errorf("a key of 256 characters: %+v", got)
	}
	if n := s.calls.Load(); n != 3 {
		t.Errorf("handler ran %d times, want 3", n)
	}

	s.fail.Store(true)
	if got := post(t, a.URL, "alice", "k2", `{}`); got.status != 500 {
		t.Fatalf("fault: %+v", got)
	}
	s.fail.Store(false)
	if got := post(t, b.URL, "alice", "k2", `{}`); got.status != 201 || got.replayed {
		t.Errorf("retry after a fault runs again: %+v", got)
	}
}

// A retry while the first request runs is 409, on either replica; once it is done, the
// retry gets its answer. A record whose replica died (lock lapsed) is taken over.
func TestInFlight(t *testing.T) {
	db := testkit.Mongo(t)
	now := time.Now()
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	opts := idempotency.Options{Lock: time.Minute, Now: func() time.Time { return time.Unix(0, clock.Load()) }}
	s := server{block: make(chan struct{})}
	a := httptest.NewServer(s.handler(idempotency.New(db, opts)))
	defer a.Close()
	b := httptest.NewServer(s.handler(idempotency.New(db, opts)))
	defer b.Close()

	var wg sync.WaitGroup
	var first answer
	wg.Go(func() { first = post(t, a.URL, "alice", "k", `{}`) })
	testkit.Eventually(t, 10*time.Second, "the first request runs", func() bool { return s.calls.Load() == 1 })
	if got := post(t, b.URL, "alice", "k", `{}`); got.status != http.StatusConflict {
		t.Errorf("while running: %+v", got)
	}
	close(s.block)
	wg.Wait()
	if got := post(t, b.URL, "alice", "k", `{}`); got.body != first.body || !got.replayed {
		t.Errorf("after: %+v, want %+v", got, first)
	}

	// A request that never finished (its replica died): taken over after the lock.
	doomed := server{block: make(chan struct{})}
	dead := httptest.NewServer(doomed.handler(idempotency.New(db, opts)))
	defer dead.Close()
	defer close(doomed.block)
	go func() {
		req, _ := http.NewRequest("POST", dead.URL+"/things", strings.NewReader(`{}`))
		req.Header.Set("X-User", "alice")
		req.Header.Set(idempotency.Header, "k3")
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	testkit.Eventually(t, 10*time.Second, "the doomed request runs", func() bool { return doomed.calls.Load() == 1 })
	if got := post(t, b.URL, "alice", "k3", `{}`); got.status != http.StatusConflict {
		t.Errorf("before the lock lapses: %+v", got)
	}
	clock.Add(int64(2 * time.Minute))
	if got := post(t, b.URL, "alice", "k3", `{}`); got.status != 201 || got.replayed {
		t.Errorf("after the lock lapsed: %+v", got)
	}
}

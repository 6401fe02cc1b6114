package ratelimit_test

import (
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"ticketing/common/authn"
	"ticketing/common/config"
	"ticketing/common/ratelimit"
	"ticketing/common/testkit"
	"ticketing/common/web"
)

var quiet = slog.New(slog.DiscardHandler)

// newAPI is one replica of a small API behind the limits: POST /things (201), a signed webhook
// POST /hook that is exempt, and GET /things.
func newAPI(t *testing.T, c ratelimit.Counter, l ratelimit.Limits, pub ed25519.PublicKey) http.Handler {
	t.Helper()
	r := web.NewRouter(quiet, authn.NewVerifier(pub))
	r.Use(ratelimit.Writes("ratelimit-test", c, l, quiet, "/hook"))
	r.Post("/things", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
	r.Get("/things", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	r.Post("/hook", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	return r
}

func keys(t *testing.T) (*authn.Signer, ed25519.PublicKey) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return authn.NewSigner(priv, time.Hour), pub
}

func token(t *testing.T, s *authn.Signer, user string) string {
	tok, _, err := s.Issue(user, user+"@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// send sends method path from the client address remote, with tok as the session when set.
func send(h http.Handler, method, path, remote, tok string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = remote + ":4711"
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// checkThrottled checks a refusal: 429, Retry-After in whole seconds within the window, and
// the error shape.
func checkThrottled(t *testing.T, w *httptest.ResponseRecorder, window time.Duration) {
	t.Helper()
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", w.Code)
	}
	secs, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if err != nil || secs < 1 || secs > int(window.Seconds()) {
		t.Errorf("Retry-After %q, want whole seconds in [1, %v]", w.Header().Get("Retry-After"), window.Seconds())
	}
	var body web.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 || body.Errors[0].Message == "" {
		t.Errorf("body %q is not the error shape", w.Body.String())
	}
}

// Two replicas sharing one Redis share the limits: 40 writes of one user at once, half to
// each replica, and exactly the user's allowance passes.
func TestWritesSharedByReplicas(t *testing.T) {
	srv := testkit.Redis(t)
	signer, pub := keys(t)
	l := ratelimit.Limits{User: 7, Client: 1000, Window: time.Minute}
	replicas := []http.Handler{
		newAPI(t, ratelimit.New(srv.Client(), quiet), l, pub),
		newAPI(t, ratelimit.New(srv.Client(), quiet), l, pub),
	}
	tok := token(t, signer, "ann")
	before := testkit.Counter(t, "ticketing_http_throttled_total", map[string]string{"service": "ratelimit-test", "route": "/things"})
	var mu sync.Mutex
	codes := map[int]int{}
	var refused *httptest.ResponseRecorder
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 40 {
		wg.Go(func() {
			<-start
			w := send(replicas[i%2], http.MethodPost, "/things", "203.0.113.1", tok)
			mu.Lock()
			defer mu.Unlock()
			codes[w.Code]++
			if w.Code == http.StatusTooManyRequests {
				refused = w
			}
		})
	}
	close(start)
	wg.Wait()
	if codes[http.StatusCreated] != 7 || codes[http.StatusTooManyRequests] != 33 {
		t.Fatalf("answers %v, want 7 x 201 and 33 x 429 over two replicas", codes)
	}
	checkThrottled(t, refused, l.Window)
	after := testkit.Counter(t, "ticketing_http_throttled_total", map[string]string{"service": "ratelimit-test", "route": "/things"})
	if after-before != 33 {
		t.Errorf("ticketing_http_throttled_total moved by %v, want 33", after-before)
	}
}

// The user's allowance follows the user from any address; an anonymous write counts against
// its address alone; reads, the exempt webhook and unknown routes are never counted.
func TestWritesPerUserAndPerClient(t *testing.T) {
	signer, pub := keys(t)
	proxies, _ := web.ParseProxies("10.0.0.0/8")
	l := ratelimit.Limits{User: 2, Client: 3, Window: time.Minute, Proxies: proxies}
	h := newAPI(t, ratelimit.NewMemory(), l, pub)
	ann, bob := token(t, signer, "ann"), token(t, signer, "bob")

	for _, addr := range []string{"203.0.113.1", "203.0.113.2"} {
		if w := send(h, http.MethodPost, "/things", addr, ann); w.Code != http.StatusCreated {
			t.Fatalf("ann's write from %s: %d", addr, w.Code)
		}
	}
	checkThrottled(t, send(h, http.MethodPost, "/things", "203.0.113.3", ann), l.Window)
	if w := send(h, http.MethodPost, "/things", "203.0.113.3", bob); w.Code != http.StatusCreated {
		t.Errorf("bob refused for ann's writes: %d", w.Code)
	}

	// 203.0.113.1 wrote once (ann); two anonymous writes fill its allowance of three.
	for range 2 {
		if w := send(h, http.MethodPost, "/things", "203.0.113.1", ""); w.Code != http.StatusCreated {
			t.Fatalf("anonymous write: %d", w.Code)
		}
	}
	checkThrottled(t, send(h, http.MethodPost, "/things", "203.0.113.1", ""), l.Window)
	checkThrottled(t, send(h, http.MethodPost, "/things", "203.0.113.1", bob), l.Window)
	for _, c := range []struct {
		method, path string
		want         int
	}{{http.MethodGet, "/things", 200}, {http.MethodPost, "/hook", 200}, {http.MethodPost, "/nothing", 404}, {http.MethodPut, "/things", 405}} {
		if w := send(h, c.method, c.path, "203.0.113.1", ""); w.Code != c.want {
			t.Errorf("%s %s from a throttled address: %d, want %d", c.method, c.path, w.Code, c.want)
		}
	}

	// Behind a trusted proxy the forwarded address counts, not the proxy's.
	r := httptest.NewRequest(http.MethodPost, "/things", nil)
	r.RemoteAddr = "10.1.2.3:80"
	r.Header.Set("X-Forwarded-For", "198.51.100.9")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusCreated {
		t.Errorf("a visitor behind the proxy counted against another address: %d", w.Code)
	}
}

// While Redis cannot be reached the limits count in process: still limited, never a 5xx.
func TestWritesWhileRedisIsDown(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = dead.Close() })
	signer, pub := keys(t)
	l := ratelimit.Limits{User: 3, Client: 1000, Window: time.Minute}
	h := newAPI(t, ratelimit.New(dead, quiet), l, pub)
	tok := token(t, signer, "ann")
	codes := map[int]int{}
	for range 10 {
		w := send(h, http.MethodPost, "/things", "203.0.113.1", tok)
		codes[w.Code]++
		if w.Code == http.StatusTooManyRequests {
			checkThrottled(t, w, l.Window)
		}
	}
	if codes[http.StatusCreated] != 3 || codes[http.StatusTooManyRequests] != 7 {
		t.Errorf("answers %v with Redis down, want 3 x 201 and 7 x 429", codes)
	}
}

// Limits of 0 are off: nothing is counted.
func TestWritesOff(t *testing.T) {
	_, pub := keys(t)
	h := newAPI(t, ratelimit.NewMemory(), ratelimit.Limits{Window: time.Minute}, pub)
	for range 100 {
		if w := send(h, http.MethodPost, "/things", "203.0.113.1", ""); w.Code != http.StatusCreated {
			t.Fatalf("write refused with the limits off: %d", w.Code)
		}
	}
}

func TestLoadLimits(t *testing.T) {
	l := ratelimit.LoadLimits(config.FromMap(nil))
	if l.User != 60 || l.Client != 600 || l.Window != time.Minute || len(l.Proxies) != 0 {
		t.Errorf("defaults %+v", l)
	}
	env := config.FromMap(map[string]string{"RATE_LIMIT_USER": "0", "RATE_LIMIT_CLIENT": "0", "RATE_LIMIT_WINDOW": "10s",
		"TRUSTED_PROXIES": "10.0.0.0/8"})
	if l := ratelimit.LoadLimits(env); env.Err() != nil || l.User != 0 || l.Client != 0 || l.Window != 10*time.Second || len(l.Proxies) != 1 {
		t.Errorf("settings %+v, %v", l, env.Err())
	}
	for k, v := range map[string]string{"RATE_LIMIT_USER": "-1", "RATE_LIMIT_WINDOW": "10ms", "TRUSTED_PROXIES": "ingress"} {
		env := config.FromMap(map[string]string{k: v})
		ratelimit.LoadLimits(env)
		if err := env.Err(); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: err %v, want one naming %s", k, v, err, k)
		}
	}
}

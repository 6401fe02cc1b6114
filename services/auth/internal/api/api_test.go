package api_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ticketing/common/authn"
	"ticketing/common/ratelimit"
	"ticketing/common/web"
	"ticketing/services/auth/internal/api"
	"ticketing/services/auth/internal/app"
	"ticketing/services/auth/internal/app/apptest"
	"ticketing/services/auth/internal/limiter"
	"ticketing/services/auth/internal/password"
	"ticketing/services/auth/internal/user"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is the auth routes over a repository, with the given argon2id parameters.
type fixture struct {
	handler http.Handler
	pub     ed25519.PublicKey
}

func newFixture(tb testing.TB, repo app.Repository, p password.Params, emailLimit, clientLimit int) fixture {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	hasher, err := password.NewHasher(p, 4)
	if err != nil {
		tb.Fatal(err)
	}
	throttle := &limiter.SignIn{Counter: ratelimit.NewMemory(), EmailLimit: emailLimit, ClientLimit: clientLimit,
		Window: time.Minute, Log: discard}
	accounts, err := app.New(context.Background(), repo, hasher, throttle, discard)
	if err != nil {
		tb.Fatal(err)
	}
	r := web.NewRouter(discard, authn.NewVerifier(pub))
	(&api.Handler{Accounts: accounts, Signer: authn.NewSigner(priv, time.Hour), PublicKey: pub}).Mount(r)
	return fixture{handler: r, pub: pub}
}

func (f fixture) post(path, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.RemoteAddr = "192.0.2.1:1234"
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

var fastParams = password.Params{Time: 1, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

// seeds is the corpus of both fuzz targets: valid bodies, and the ways a body goes wrong.
var seeds = []string{
	`{"email":"test@test.com","password":"password"}`,
	`{"email":"  MiXed@Case.COM ","password":"12345678"}`,
	`{"email":"test@test.com","password":"short"}`,
	`{"email":"not an email","password":"password"}`,
	`{"email":"test@test.com"}`,
	`{"password":"password"}`,
	`{}`,
	``,
	`null`,
	`[]`,
	`"string"`,
	`{"email":1,"password":true}`,
	`{"email":null,"password":null}`,
	`{"email":"a@b.co","password":"password","admin":true}`,
	`{"email":"a@b.co","password":"password"}{"email":"c@d.co"}`,
	`{"email":"a@b.co","password":"password"} trailing`,
	`{"email":"a@b.co",`,
	`{"email":"a@b.co","password":"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"}`,
	`{"email":"a@b.co","password":"\ud800\udc00\ud800\udc00\ud800\udc00\ud800"}`,
	"{\"email\":\"a@b.co\",\"password\":\"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\"}",
	`{"EMAIL":"a@b.co","Password":"password"}`,
	`{"email":"a@b.co","password":"` + strings.Repeat("p", 200) + `"}`,
}

// checkAnswer asserts what every answer must be: an expected status, JSON, the error shape
// for errors, and for a session an id, the normalised email and a token that verifies.
func checkAnswer(t *testing.T, f fixture, rec *httptest.ResponseRecorder, allowed map[int]bool, success int) {
	t.Helper()
	if !allowed[rec.Code] {
		t.Fatalf("status %d (body %s), want one of %v", rec.Code, rec.Body, allowed)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if rec.Code == success {
		var s struct{ ID, Email, Token string }
		if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil || s.ID == "" || s.Token == "" {
			t.Fatalf("session answer %s: %v", rec.Body, err)
		}
		if s.Email != user.NormalizeEmail(s.Email) || !user.ValidEmail(s.Email) {
			t.Fatalf("session email %q is not normalised and valid", s.Email)
		}
		if _, err := authn.NewVerifier(f.pub).Verify(s.Token); err != nil {
			t.Fatalf("issued token does not verify: %v", err)
		}
		if !strings.Contains(rec.Header().Get("Set-Cookie"), "session=") {
			t.Fatal("no session cookie")
		}
		return
	}
	var e web.ErrorBody
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("error answer is not the error shape: %v", err)
	}
	for _, it := range e.Errors {
		if it.Message == "" {
			t.Fatal("error without a message")
		}
	}
}

// FuzzSignup feeds arbitrary bodies and content types to POST /api/users/signup: it never
// answers 5xx, and every answer has the API's shape. Run with
// go test -fuzz=FuzzSignup ./internal/api
func FuzzSignup(f *testing.F) {
	for _, s := range seeds {
		f.Add("application/json", []byte(s))
	}
	f.Add("text/plain", []byte(seeds[0]))
	f.Add("", []byte(seeds[0]))
	f.Add("application/merge-patch+json; charset=utf-8", []byte(seeds[0]))
	f.Add("application/json; charset=", []byte(seeds[0]))
	fx := newFixture(f, apptest.NewUsers(), fastParams, 1_000_000, 1_000_000)
	allowed := map[int]bool{201: true, 400: true, 409: true, 413: true, 415: true}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		rec := fx.post("/api/users/signup", contentType, body)
		checkAnswer(t, fx, rec, allowed, http.StatusCreated)
	})
}

// FuzzSignin does the same for POST /api/users/signin, against one existing account.
func FuzzSignin(f *testing.F) {
	for _, s := range seeds {
		f.Add("application/json", []byte(s))
	}
	f.Add("text/plain", []byte(seeds[0]))
	fx := newFixture(f, apptest.NewUsers(), fastParams, 1_000_000, 1_000_000)
	if rec := fx.post("/api/users/signup", "application/json", []byte(seeds[0])); rec.Code != http.StatusCreated {
		f.Fatalf("signup: %d %s", rec.Code, rec.Body)
	}
	allowed := map[int]bool{200: true, 400: true, 401: true, 413: true, 415: true}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		rec := fx.post("/api/users/signin", contentType, body)
		checkAnswer(t, fx, rec, allowed, http.StatusOK)
	})
}

// FuzzPasswordChange feeds arbitrary bodies to PUT /api/users/password for a signed-in user:
// never a 5xx, and every answer has the API's shape.
func FuzzPasswordChange(f *testing.F) {
	for _, s := range []string{
		`{"currentPassword":"password","newPassword":"password2"}`,
		`{"currentPassword":"","newPassword":"x"}`,
		`{"currentPassword":"wrong-one","newPassword":"password3"}`,
		`{"newPassword":"password2"}`, `{}`, ``, `null`, `[]`, `{"currentPassword":1}`,
		`{"currentPassword":"password","newPassword":"password2","admin":true}`,
	} {
		f.Add("application/json", []byte(s))
	}
	f.Add("text/plain", []byte(`{"currentPassword":"password","newPassword":"password2"}`))
	fx := newFixture(f, apptest.NewUsers(), fastParams, 1_000_000, 1_000_000)
	rec := fx.post("/api/users/signup", "application/json", []byte(seeds[0]))
	var s struct{ Token string }
	if err := json.Unmarshal(rec.Body.Bytes(), &s); rec.Code != http.StatusCreated || err != nil {
		f.Fatalf("signup: %d %s", rec.Code, rec.Body)
	}
	allowed := map[int]bool{200: true, 400: true, 413: true, 415: true}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := httptest.NewRequest(http.MethodPut, "/api/users/password", strings.NewReader(string(body)))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		req.Header.Set("Authorization", "Bearer "+s.Token)
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		fx.handler.ServeHTTP(rec, req)
		checkAnswer(t, fx, rec, allowed, http.StatusOK)
	})
}

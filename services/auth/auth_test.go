package auth_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing/common/apiclient"
	"ticketing/common/authn"
	"ticketing/common/config"
	"ticketing/common/testkit"
	"ticketing/common/web"
	"ticketing/services/auth"
	"ticketing/services/auth/internal/password"
)

// testEnv is the environment of an auth service under test, with a NATS server of the
// test's own (auth publishes and follows session revocations). Hashing is cheap here (1 MiB,
// one pass) to keep the suite fast under the race detector; BenchmarkSignin measures the
// defaults.
func testEnv(t *testing.T, set map[string]string) map[string]string {
	t.Helper()
	env := testkit.ServiceEnv(t, testkit.NATS(t))
	env["ARGON2_TIME"], env["ARGON2_MEMORY_KIB"], env["ARGON2_THREADS"] = "1", "1024", "1"
	maps.Copy(env, set)
	return env
}

// start runs an auth service with env until the test ends and returns its base URL.
func start(t *testing.T, env map[string]string) string {
	t.Helper()
	cfg, err := auth.LoadConfig(config.FromMap(env))
	if err != nil {
		t.Fatal(err)
	}
	return testkit.Serve(t, func(ctx context.Context, ready func(string)) error {
		cfg.Ready = ready
		return auth.Run(ctx, cfg)
	})
}

type response struct {
	testkit.Reply
	cookie *http.Cookie // the session cookie set, if any
}

// errors returns the answer's error items, failing unless it has the API's error shape.
func (r response) errors(t *testing.T) []web.ErrorItem {
	t.Helper()
	var e web.ErrorBody
	r.Strict(&e)
	if len(e.Errors) == 0 {
		t.Fatalf("status %d body %s is not the error shape", r.Status, r.Body)
	}
	return e.Errors
}

// call sends a request; headers are name, value pairs.
func call(t *testing.T, method, url, body string, headers ...string) response {
	t.Helper()
	req := apiclient.Request{Method: method, Path: url, Header: http.Header{}}
	if body != "" {
		req.Body = body
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	r := response{Reply: testkit.NewAPI(t, "").Send(req)}
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == authn.CookieName {
			r.cookie = c
		}
	}
	return r
}

func creds(email, password string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return string(b)
}

type session struct{ ID, Email, Token string }

type current struct {
	CurrentUser *struct {
		ID, Email string
		Iat, Exp  json.Number
	} `json:"currentUser"`
}

// currentUser asks who the headers sign in as.
func currentUser(t *testing.T, base string, headers ...string) current {
	t.Helper()
	r := call(t, http.MethodGet, base+"/api/users/currentuser", "", headers...)
	if r.Status != http.StatusOK {
		t.Fatalf("currentuser: %d %s", r.Status, r.Body)
	}
	var c current
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(r.Body, []byte(`"currentUser":`)) {
		t.Fatalf("no currentUser key in %s", r.Body)
	}
	return c
}

func checkSessionCookie(t *testing.T, c *http.Cookie, token string, secure bool) {
	t.Helper()
	if c == nil {
		t.Fatal("no session cookie")
	}
	if c.Value != token || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure != secure || c.MaxAge <= 0 {
		t.Errorf("session cookie %+v: want the token, HttpOnly, SameSite=Lax, Path=/, Secure=%v, a Max-Age", c, secure)
	}
}

func wantField(t *testing.T, r response, status int, fields ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d (%s), want %d", r.Status, r.Body, status)
	}
	items := r.errors(t)
	var got []string
	for _, it := range items {
		got = append(got, it.Field)
	}
	if strings.Join(got, ",") != strings.Join(fields, ",") {
		t.Errorf("error fields %q (%s), want %q", got, r.Body, fields)
	}
}

// Every row of API.md's auth table, with each status code it names.
func TestAPI(t *testing.T) {
	env := testEnv(t, map[string]string{"TOKEN_TTL": "2h"})
	base := start(t, env)
	pub, _ := authn.ParsePublicKey(env["JWT_PUBLIC_KEY"])
	verifier := authn.NewVerifier(pub)

	// POST /api/users/signup: 201 {id, email, token} and the cookie.
	r := call(t, http.MethodPost, base+"/api/users/signup", creds("  Ann.Lee@Example.COM ", "password"))
	if r.Status != http.StatusCreated {
		t.Fatalf("signup: %d %s", r.Status, r.Body)
	}
	var s session
	r.JSON(&s)
	if s.ID == "" || s.Email != "ann.lee@example.com" || s.Token == "" {
		t.Fatalf("signup answer %s", r.Body)
	}
	var keys map[string]any
	r.JSON(&keys)
	if len(keys) != 3 {
		t.Errorf("signup answer has other keys than id, email, token: %s", r.Body)
	}
	checkSessionCookie(t, r.cookie, s.Token, false)
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("a token answer is cacheable: Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	u, err := verifier.Verify(s.Token)
	if err != nil || u.ID != s.ID || u.Email != s.Email || u.Expires.Sub(u.IssuedAt) != 2*time.Hour {
		t.Errorf("signup token: %+v, %v; want sub %s, email %s, 2h lifetime", u, err, s.ID, s.Email)
	}

	// 400 invalid email or password, naming the fields.
	wantField(t, call(t, http.MethodPost, base+"/api/users/signup", creds("nope", "password")), 400, "email")
	wantField(t, call(t, http.MethodPost, base+"/api/users/signup", creds("bob@test.com", "1234567")), 400, "password")
	wantField(t, call(t, http.MethodPost, base+"/api/users/signup", creds("bob@test.com", strings.Repeat("p", 129))), 400, "password")
	wantField(t, call(t, http.MethodPost, base+"/api/users/signup", creds("", "")), 400, "email", "password")
	wantField(t, call(t, http.MethodPost, base+"/api/users/signup", `{"email":"bob@test.com"}`), 400, "password")
	// 128 characters of 4 bytes each are a valid password.
	if r := call(t, http.MethodPost, base+"/api/users/signup", creds("long@test.com", strings.Repeat("🎟", 128))); r.Status != http.StatusCreated {
		t.Errorf("signup with 128 four-byte characters: %d %s", r.Status, r.Body)
	}

	// 409 email in use, whatever its case and spacing.
	r = call(t, http.MethodPost, base+"/api/users/signup", creds("ANN.LEE@example.com", "different1"))
	if r.Status != http.StatusConflict || r.errors(t)[0].Message != "Email in use" || r.cookie != nil {
		t.Errorf("duplicate signup: %d %s", r.Status, r.Body)
	}

	// POST /api/users/signin: 200 {id, email, token} and the cookie.
	r = call(t, http.MethodPost, base+"/api/users/signin", creds("ann.lee@EXAMPLE.com", "password"))
	if r.Status != http.StatusOK {
		t.Fatalf("signin: %d %s", r.Status, r.Body)
	}
	var in session
	r.JSON(&in)
	if in.ID != s.ID || in.Email != s.Email || in.Token == "" {
		t.Errorf("signin answer %s, want the account of %+v", r.Body, s)
	}
	checkSessionCookie(t, r.cookie, in.Token, false)

	// 401 invalid credentials: wrong password and unknown email alike.
	for _, c := range []string{creds("ann.lee@example.com", "Password"), creds("nobody@example.com", "password")} {
		r = call(t, http.MethodPost, base+"/api/users/signin", c)
		if r.Status != http.StatusUnauthorized || r.errors(t)[0].Message != "Invalid credentials" || r.cookie != nil {
			t.Errorf("signin %s: %d %s, want 401 Invalid credentials", c, r.Status, r.Body)
		}
	}
	wantField(t, call(t, http.MethodPost, base+"/api/users/signin", creds("nope", "password")), 400, "email")
	wantField(t, call(t, http.MethodPost, base+"/api/users/signin", creds("ann.lee@example.com", "")), 400, "password")
	// (429 after repeated failures: TestSignInLimit*.)

	// GET /api/users/currentuser: with the cookie, with a bearer token, and with neither.
	for name, h := range map[string][]string{
		"cookie": {"Cookie", authn.CookieName + "=" + in.Token},
		"bearer": {"Authorization", "Bearer " + in.Token},
	} {
		c := currentUser(t, base, h...)
		if c.CurrentUser == nil || c.CurrentUser.ID != s.ID || c.CurrentUser.Email != s.Email {
			t.Fatalf("currentuser by %s: %+v", name, c.CurrentUser)
		}
		iat, err1 := strconv.ParseInt(c.CurrentUser.Iat.String(), 10, 64)
		exp, err2 := strconv.ParseInt(c.CurrentUser.Exp.String(), 10, 64)
		if err1 != nil || err2 != nil || exp-iat != 7200 || time.Since(time.Unix(iat, 0)) > time.Minute {
			t.Errorf("currentuser by %s: iat %s exp %s, want integer NumericDates 2h apart", name, c.CurrentUser.Iat, c.CurrentUser.Exp)
		}
	}
	if c := currentUser(t, base); c.CurrentUser != nil {
		t.Errorf("currentuser without a token: %+v, want null", c.CurrentUser)
	}

	// POST /api/users/signout: 200 {}, cookie cleared.
	r = call(t, http.MethodPost, base+"/api/users/signout", "", "Cookie", authn.CookieName+"="+in.Token)
	if r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != "{}" {
		t.Errorf("signout: %d %s, want 200 {}", r.Status, r.Body)
	}
	if r.cookie == nil || r.cookie.Value != "" || r.cookie.MaxAge >= 0 || !r.cookie.HttpOnly {
		t.Errorf("signout cookie %+v, want it cleared (empty, Max-Age=0)", r.cookie)
	}
}

// Bodies that are not JSON, too large or of the wrong types answer 4xx in the error shape.
func TestRequestDecoding(t *testing.T) {
	base := start(t, testEnv(t, nil))
	huge := `{"email":"a@b.co","password":"` + strings.Repeat("x", web.MaxBody) + `"}`
	for _, path := range []string{"/api/users/signup", "/api/users/signin"} {
		for _, tc := range []struct {
			name, body, contentType string
			status                  int
			field                   string
		}{
			{"empty", "", "application/json", 400, ""},
			{"malformed", `{"email":`, "application/json", 400, ""},
			{"not an object", `["a@b.co","password"]`, "application/json", 400, ""},
			{"wrong type", `{"email":42,"password":"password"}`, "application/json", 400, "email"},
			{"wrong type password", `{"email":"a@b.co","password":["password"]}`, "application/json", 400, "password"},
			{"unknown field", `{"email":"a@b.co","password":"password","isAdmin":true}`, "application/json", 400, "isAdmin"},
			{"two objects", `{"email":"a@b.co","password":"password"}{}`, "application/json", 400, ""},
			{"too large", huge, "application/json", 413, ""},
			{"not JSON", "email=a@b.co&password=password", "application/x-www-form-urlencoded", 415, ""},
		} {
			r := call(t, http.MethodPost, base+path, tc.body, "Content-Type", tc.contentType)
			if r.Status != tc.status {
				t.Errorf("%s %s: %d %s, want %d", path, tc.name, r.Status, r.Body, tc.status)
				continue
			}
			if items := r.errors(t); items[0].Field != tc.field {
				t.Errorf("%s %s: field %q, want %q", path, tc.name, items[0].Field, tc.field)
			}
		}
	}
}

func TestRoutesAndHeaders(t *testing.T) {
	base := start(t, testEnv(t, nil))
	r := call(t, http.MethodGet, base+"/api/users/nothing", "", "X-Request-Id", "req-123")
	if r.Status != http.StatusNotFound || r.Header.Get("X-Request-Id") != "req-123" {
		t.Errorf("unknown route: %d, X-Request-Id %q", r.Status, r.Header.Get("X-Request-Id"))
	}
	r.errors(t)
	r = call(t, http.MethodGet, base+"/api/users/signup", "")
	if r.Status != http.StatusMethodNotAllowed || !strings.Contains(r.Header.Get("Allow"), "POST") {
		t.Errorf("GET signup: %d, Allow %q", r.Status, r.Header.Get("Allow"))
	}
	r.errors(t)
	if r := call(t, http.MethodGet, base+"/api/users/currentuser", ""); r.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id made up")
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := call(t, http.MethodGet, base+p, ""); r.Status != http.StatusOK {
			t.Errorf("%s: %d %s", p, r.Status, r.Body)
		}
	}
}

func TestSecureCookie(t *testing.T) {
	base := start(t, testEnv(t, map[string]string{"COOKIE_SECURE": "true"}))
	r := call(t, http.MethodPost, base+"/api/users/signup", creds("sec@test.com", "password"))
	var s session
	r.JSON(&s)
	checkSessionCookie(t, r.cookie, s.Token, true)
	if r := call(t, http.MethodPost, base+"/api/users/signout", ""); r.cookie == nil || !r.cookie.Secure {
		t.Errorf("signout cookie %+v, want Secure", r.cookie)
	}
}

// The JWKS document publishes the key that verifies the service's tokens.
func TestJWKS(t *testing.T) {
	base := start(t, testEnv(t, nil))
	r := call(t, http.MethodGet, base+"/api/users/.well-known/jwks.json", "")
	if r.Status != http.StatusOK {
		t.Fatalf("jwks: %d %s", r.Status, r.Body)
	}
	var set struct {
		Keys []struct{ Kty, Crv, Alg, Use, Kid, X string } `json:"keys"`
	}
	r.JSON(&set)
	if len(set.Keys) != 1 {
		t.Fatalf("jwks %s: want one key", r.Body)
	}
	k := set.Keys[0]
	x, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil || len(x) != ed25519.PublicKeySize || k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" || k.Use != "sig" {
		t.Fatalf("jwk %+v", k)
	}
	r = call(t, http.MethodPost, base+"/api/users/signup", creds("jwks@test.com", "password"))
	var s session
	r.JSON(&s)
	tok, err := jwt.Parse(s.Token, func(tok *jwt.Token) (any, error) {
		if tok.Header["kid"] != k.Kid {
			return nil, fmt.Errorf("kid %v, want %s", tok.Header["kid"], k.Kid)
		}
		return ed25519.PublicKey(x), nil
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(authn.Issuer))
	if err != nil || !tok.Valid {
		t.Fatalf("a token does not verify with the JWKS key: %v", err)
	}
	claims := tok.Claims.(jwt.MapClaims)
	for _, c := range []string{"sub", "email", "iat", "exp"} {
		if _, ok := claims[c]; !ok {
			t.Errorf("token has no %s claim: %v", c, claims)
		}
	}
}

// mixedCase spells s with upper-case letters where the bits of i say so.
func mixedCase(s string, i int) string {
	b := []byte(s)
	for j := range b {
		if i>>(j%6)&1 == 1 && b[j] >= 'a' && b[j] <= 'z' {
			b[j] -= 'a' - 'A'
		}
	}
	return string(b)
}

// 50 concurrent signups with one email in different letter case: exactly one account.
func TestConcurrentSignupsOneEmail(t *testing.T) {
	// Limits out of the way: this is the race on one email (TestSignUpFlood has the limits).
	env := testEnv(t, map[string]string{"SIGNUP_CLIENT_LIMIT": "1000", "ARGON2_SIGNUP_QUEUE": "1000"})
	base := start(t, env)
	const n = 50
	statuses := make([]int, n)
	var wg sync.WaitGroup
	startGun := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-startGun
			r := call(t, http.MethodPost, base+"/api/users/signup", creds(mixedCase("racer@test.com", i), fmt.Sprintf("password-%02d", i)))
			statuses[i] = r.Status
		})
	}
	close(startGun)
	wg.Wait()

	winner, conflicts := -1, 0
	for i, s := range statuses {
		switch s {
		case http.StatusCreated:
			if winner >= 0 {
				t.Errorf("signups %d and %d both created", winner, i)
			}
			winner = i
		case http.StatusConflict:
			conflicts++
		default:
			t.Errorf("signup %d: status %d", i, s)
		}
	}
	if winner < 0 || conflicts != n-1 {
		t.Fatalf("%v created and %d conflicts, want exactly 1 and %d", winner >= 0, conflicts, n-1)
	}
	users := testkit.MongoClient(t).Database(env["MONGODB_DATABASE"]).Collection("users")
	if count, err := users.CountDocuments(t.Context(), bson.M{}); err != nil || count != 1 {
		t.Errorf("%d documents (%v), want 1", count, err)
	}
	// The stored account is the winner's.
	if r := call(t, http.MethodPost, base+"/api/users/signin", creds("RACER@test.com", fmt.Sprintf("password-%02d", winner))); r.Status != http.StatusOK {
		t.Errorf("signin with the winner's password: %d", r.Status)
	}
	if r := call(t, http.MethodPost, base+"/api/users/signin", creds("racer@test.com", fmt.Sprintf("password-%02d", (winner+1)%n))); r.Status != http.StatusUnauthorized {
		t.Errorf("signin with a loser's password: %d", r.Status)
	}
}

// forgedTokens are tokens that no service may accept, each built by an attacker's recipe.
func forgedTokens(t *testing.T, env map[string]string) map[string]string {
	t.Helper()
	priv, err := authn.ParsePrivateKey(env["JWT_PRIVATE_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	now := time.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": authn.Issuer, "sub": "6650f0c2a1b2c3d4e5f60718", "email": "eve@test.com",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	sign := func(m jwt.SigningMethod, claims jwt.MapClaims, key any) string {
		tok, err := jwt.NewWithClaims(m, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	expired := valid()
	expired["iat"], expired["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Minute).Unix()
	otherIssuer := valid()
	otherIssuer["iss"] = "someone-else"
	noExp := valid()
	delete(noExp, "exp")
	noSub := valid()
	delete(noSub, "sub")
	noIat := valid()
	delete(noIat, "iat")

	good := sign(jwt.SigningMethodEdDSA, valid(), priv)
	parts := strings.Split(good, ".")
	tamperedClaims, _ := json.Marshal(map[string]any{"iss": authn.Issuer, "sub": "admin", "email": "eve@test.com",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})

	return map[string]string{
		"signed with another key":          sign(jwt.SigningMethodEdDSA, valid(), otherKey),
		"expired":                          sign(jwt.SigningMethodEdDSA, expired, priv),
		"alg none":                         sign(jwt.SigningMethodNone, valid(), jwt.UnsafeAllowNoneSignatureType),
		"HS256 keyed with the public key":  sign(jwt.SigningMethodHS256, valid(), []byte(pub)),
		"HS256 keyed with the public PEM":  sign(jwt.SigningMethodHS256, valid(), []byte(env["JWT_PUBLIC_KEY"])),
		"another issuer":                   sign(jwt.SigningMethodEdDSA, otherIssuer, priv),
		"no exp":                           sign(jwt.SigningMethodEdDSA, noExp, priv),
		"no sub":                           sign(jwt.SigningMethodEdDSA, noSub, priv),
		"no iat":                           sign(jwt.SigningMethodEdDSA, noIat, priv),
		"no jti":                           sign(jwt.SigningMethodEdDSA, valid(), priv),
		"claims tampered after signing":    parts[0] + "." + base64.RawURLEncoding.EncodeToString(tamperedClaims) + "." + parts[2],
		"signature stripped":               parts[0] + "." + parts[1] + ".",
		"garbage":                          "not.a.token",
		"header alg none, EdDSA signature": base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2],
	}
}

// Forged, expired and confused-algorithm tokens sign nobody in: currentuser answers null, and
// a route of a service behind web.RequireAuth answers 401. A valid token passes both, so the
// test cannot pass with everything refused.
func TestForgedTokensAreRefused(t *testing.T) {
	env := testEnv(t, nil)
	base := start(t, env)

	pub, err := authn.ParsePublicKey(env["JWT_PUBLIC_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	router := web.NewRouter(slog.New(slog.NewTextHandler(io.Discard, nil)), authn.NewVerifier(pub))
	router.With(web.RequireAuth).Get("/api/protected", func(w http.ResponseWriter, r *http.Request) {
		web.Respond(w, http.StatusOK, map[string]string{"userId": web.MustUser(r).ID})
	})
	protected := httptest.NewServer(router)
	t.Cleanup(protected.Close)

	r := call(t, http.MethodPost, base+"/api/users/signup", creds("real@test.com", "password"))
	var s session
	r.JSON(&s)
	if r := call(t, http.MethodGet, protected.URL+"/api/protected", "", "Authorization", "Bearer "+s.Token); r.Status != http.StatusOK {
		t.Fatalf("a valid token on the protected route: %d %s", r.Status, r.Body)
	}
	if c := currentUser(t, base, "Cookie", authn.CookieName+"="+s.Token); c.CurrentUser == nil {
		t.Fatal("a valid token: currentUser null")
	}

	for name, tok := range forgedTokens(t, env) {
		for _, h := range [][]string{{"Authorization", "Bearer " + tok}, {"Cookie", authn.CookieName + "=" + tok}} {
			if c := currentUser(t, base, h...); c.CurrentUser != nil {
				t.Errorf("%s in %s: currentUser %+v, want null", name, h[0], c.CurrentUser)
			}
			r := call(t, http.MethodGet, protected.URL+"/api/protected", "", h...)
			if r.Status != http.StatusUnauthorized {
				t.Errorf("%s in %s: protected route %d, want 401", name, h[0], r.Status)
				continue
			}
			r.errors(t)
		}
	}
}

func retryAfter(t *testing.T, r response, window time.Duration) {
	t.Helper()
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("status %d (%s), want 429", r.Status, r.Body)
	}
	r.errors(t)
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > window+time.Second {
		t.Errorf("Retry-After %q, want whole seconds in [1, %v]", r.Header.Get("Retry-After"), window)
	}
}

// Failed sign-ins count per email and per client address in Redis, so the limits hold across
// replicas: two services share one database and one Redis, and attempts alternate between
// them.
func TestSignInLimitsHoldAcrossReplicas(t *testing.T) {
	rds := testkit.Redis(t)
	env := testEnv(t, map[string]string{
		"REDIS_ADDR": rds.Addr, "REDIS_DB": strconv.Itoa(rds.DB),
		"SIGNIN_EMAIL_LIMIT": "5", "SIGNIN_CLIENT_LIMIT": "8", "SIGNIN_WINDOW": "15m",
	})
	replicas := []string{start(t, env), start(t, env)}
	signin := func(i int, email, password string, headers ...string) response {
		return call(t, http.MethodPost, replicas[i%2]+"/api/users/signin", creds(email, password), headers...)
	}
	for _, e := range []string{"ann@test.com", "bob@test.com"} {
		if r := call(t, http.MethodPost, replicas[0]+"/api/users/signup", creds(e, "password")); r.Status != http.StatusCreated {
			t.Fatalf("signup %s: %d", e, r.Status)
		}
	}
	for i := range 5 {
		if r := signin(i, "ann@test.com", "wrong-password"); r.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	// The email is locked on both replicas, even with the right password.
	retryAfter(t, signin(0, "ann@test.com", "password"), 15*time.Minute)
	retryAfter(t, signin(1, "ANN@test.com", "password"), 15*time.Minute)

	// Another account from the same client still signs in; a success does not count
	// against the client.
	if r := signin(0, "bob@test.com", "password"); r.Status != http.StatusOK {
		t.Fatalf("bob: %d %s", r.Status, r.Body)
	}
	// Three more failures (unknown emails) bring the client to 8...
	for i := range 3 {
		if r := signin(i, fmt.Sprintf("nobody%d@test.com", i), "password"); r.Status != http.StatusUnauthorized {
			t.Fatalf("unknown email %d: %d", i, r.Status)
		}
	}
	// ...and then the client is locked out, for any email, on any replica.
	retryAfter(t, signin(1, "bob@test.com", "password"), 15*time.Minute)
	// From a peer not in TRUSTED_PROXIES, a forged X-Forwarded-For does not help.
	retryAfter(t, signin(0, "bob@test.com", "password", "X-Forwarded-For", "198.51.100.7"), 15*time.Minute)

	if r := call(t, http.MethodGet, replicas[0]+"/readyz", ""); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"redis":"ok"`) {
		t.Errorf("readyz: %d %s, want redis ok", r.Status, r.Body)
	}
}

// Without REDIS_ADDR the limiter counts in process; behind a trusted proxy the client
// address is the nearest X-Forwarded-For entry that is not a trusted proxy.
func TestSignInLimitInProcessBehindProxy(t *testing.T) {
	base := start(t, testEnv(t, map[string]string{
		"SIGNIN_EMAIL_LIMIT": "3", "SIGNIN_CLIENT_LIMIT": "4", "TRUSTED_PROXIES": "127.0.0.1/32,10.0.0.0/8",
	}))
	if r := call(t, http.MethodPost, base+"/api/users/signup", creds("cat@test.com", "password")); r.Status != http.StatusCreated {
		t.Fatalf("signup: %d", r.Status)
	}
	signin := func(email, password, client string) response {
		return call(t, http.MethodPost, base+"/api/users/signin", creds(email, password), "X-Forwarded-For", client+", 10.0.0.1")
	}
	// Two failures, a success (which clears the email's count), then three failures again:
	// only then is the email locked.
	signin("cat@test.com", "wrong", "198.51.100.1")
	signin("cat@test.com", "wrong", "198.51.100.2")
	if r := signin("cat@test.com", "password", "198.51.100.3"); r.Status != http.StatusOK {
		t.Fatalf("success after two failures: %d %s", r.Status, r.Body)
	}
	for i := range 3 {
		if r := signin("cat@test.com", "wrong", fmt.Sprintf("198.51.100.%d", 10+i)); r.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d after the success: %d", i+1, r.Status)
		}
	}
	retryAfter(t, signin("cat@test.com", "password", "198.51.100.99"), 15*time.Minute)

	// Client limit: four failures from one address lock it, not its neighbours.
	for i := range 4 {
		signin(fmt.Sprintf("x%d@test.com", i), "password", "203.0.113.5")
	}
	retryAfter(t, signin("y@test.com", "password", "203.0.113.5"), 15*time.Minute)
	if r := signin("y@test.com", "password", "203.0.113.6"); r.Status != http.StatusUnauthorized {
		t.Errorf("another client address: %d, want 401", r.Status)
	}
}

// TestSignUpFlood: 500 concurrent sign-ups, from 25 client addresses behind a trusted proxy,
// answer only 201, 409 and 429 (each 429 with Retry-After), and a sign-in during the flood
// succeeds. Hashing runs at the production cost (64 MiB), so the sign-in's time during the
// flood can be compared with its time at rest; both are logged, not asserted. The flood hits
// one replica, so that this process hashes no more at once than one pod would (its slots);
// a second replica, sharing Redis, then finds the global allowance used up.
func TestSignUpFlood(t *testing.T) {
	rds := testkit.Redis(t)
	const globalLimit = 40
	env := testEnv(t, map[string]string{
		"REDIS_ADDR": rds.Addr, "REDIS_DB": strconv.Itoa(rds.DB), "TRUSTED_PROXIES": "127.0.0.1/32",
		"ARGON2_TIME": strconv.Itoa(int(password.Default.Time)), "ARGON2_MEMORY_KIB": strconv.Itoa(int(password.Default.MemoryKiB)),
		"ARGON2_THREADS": strconv.Itoa(int(password.Default.Threads)), "ARGON2_CONCURRENCY": "2", "ARGON2_SIGNUP_CONCURRENCY": "1",
		"SIGNUP_CLIENT_LIMIT": "15", "SIGNUP_GLOBAL_LIMIT": strconv.Itoa(globalLimit), "SIGNUP_GLOBAL_WINDOW": "10m",
	})
	replicas := []string{start(t, env), start(t, env)}
	// The sign-in's account and the email the flood collides on are made before the global
	// allowance is counted down: from their own addresses, they use 2 of it.
	for i, e := range []string{"ann@test.com", "taken@test.com"} {
		if r := call(t, http.MethodPost, replicas[0]+"/api/users/signup", creds(e, "password"), "X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i)); r.Status != http.StatusCreated {
			t.Fatalf("signup %s: %d %s", e, r.Status, r.Body)
		}
	}
	signIn := func() (response, time.Duration) {
		start := time.Now()
		r := call(t, http.MethodPost, replicas[0]+"/api/users/signin", creds("ann@test.com", "password"), "X-Forwarded-For", "203.0.113.9")
		return r, time.Since(start)
	}
	var atRest []time.Duration
	for range 5 {
		r, d := signIn()
		if r.Status != http.StatusOK {
			t.Fatalf("sign-in at rest: %d %s", r.Status, r.Body)
		}
		atRest = append(atRest, d)
	}

	const n = 500
	statuses := make([]response, n)
	var wg sync.WaitGroup
	gun, firstAnswer := make(chan struct{}), make(chan struct{})
	var once sync.Once
	for i := range n {
		wg.Go(func() {
			<-gun
			email := fmt.Sprintf("flood%d@test.com", i)
			if i%5 == 0 {
				email = "taken@test.com"
			}
			statuses[i] = call(t, http.MethodPost, replicas[0]+"/api/users/signup", creds(email, "password"),
				"X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i%25))
			once.Do(func() { close(firstAnswer) })
		})
	}
	floodStart := time.Now()
	close(gun)
	flooded := make(chan struct{})
	go func() { wg.Wait(); close(flooded) }()
	<-firstAnswer
	// Sign-ins one after another until the flood is answered.
	var during []time.Duration
	for {
		r, d := signIn()
		if r.Status != http.StatusOK {
			t.Errorf("sign-in during the flood: %d %s", r.Status, r.Body)
		}
		during = append(during, d)
		select {
		case <-flooded:
		default:
			continue
		}
		break
	}
	floodTime := time.Since(floodStart)

	count := map[int]int{}
	busy := 0
	for i, r := range statuses {
		count[r.Status]++
		switch r.Status {
		case http.StatusCreated, http.StatusConflict:
		case http.StatusTooManyRequests:
			if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 {
				t.Errorf("signup %d: 429 with Retry-After %q", i, r.Header.Get("Retry-After"))
			}
			if strings.Contains(string(r.Body), "right now") {
				busy++
			}
		default:
			t.Errorf("signup %d: status %d %s", i, r.Status, r.Body)
		}
	}
	// Every 201 and 409 hashed a password and counted against the one global allowance; the
	// flood used it up (every sign-up counts), and the other replica counts in the same Redis.
	if hashed := count[http.StatusCreated] + count[http.StatusConflict]; hashed > globalLimit-2 {
		t.Errorf("%d sign-ups got past the global limit of %d (2 used before the flood)", hashed, globalLimit)
	}
	r := call(t, http.MethodPost, replicas[1]+"/api/users/signup", creds("late@test.com", "password"), "X-Forwarded-For", "203.0.113.77")
	if r.Status != http.StatusTooManyRequests || !strings.Contains(string(r.Body), "Too many sign-ups, try again later") {
		t.Errorf("a sign-up on the other replica after the flood: %d %s, want 429 (global allowance used up)", r.Status, r.Body)
	}
	slices.Sort(atRest)
	slices.Sort(during)
	t.Logf("flood of %d sign-ups in %s: %d created, %d conflict, %d too many (%d of them shed as busy); "+
		"sign-in at rest: median %s of %v; during the flood: median %s of %v",
		n, floodTime.Round(time.Millisecond), count[http.StatusCreated], count[http.StatusConflict],
		count[http.StatusTooManyRequests], busy, atRest[len(atRest)/2].Round(time.Millisecond), roundAll(atRest),
		during[len(during)/2].Round(time.Millisecond), roundAll(during))
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// Sign-out revokes the token it is made with, and a password change every token of the user
// issued before it, through session.revoked over NATS: two replicas (each following the
// revocations) refuse them, and a new replica started afterwards learns them too. The new
// token of the password change, and other users' tokens, keep working.
func TestSignOutAndPasswordChangeRevokeTokens(t *testing.T) {
	env := testEnv(t, nil)
	replicas := []string{start(t, env), start(t, env)}
	signedIn := func(base, tok string) bool {
		return currentUser(t, base, "Authorization", "Bearer "+tok).CurrentUser != nil
	}
	session := func(r response, want int) string {
		t.Helper()
		if r.Status != want {
			t.Fatalf("status %d %s, want %d", r.Status, r.Body, want)
		}
		var s session
		r.JSON(&s)
		return s.Token
	}
	ann := session(call(t, http.MethodPost, replicas[0]+"/api/users/signup", creds("ann@test.com", "password1")), http.StatusCreated)
	annPhone := session(call(t, http.MethodPost, replicas[1]+"/api/users/signin", creds("ann@test.com", "password1")), http.StatusOK)
	bob := session(call(t, http.MethodPost, replicas[0]+"/api/users/signup", creds("bob@test.com", "password1")), http.StatusCreated)
	for _, tok := range []string{ann, annPhone, bob} {
		if !signedIn(replicas[0], tok) || !signedIn(replicas[1], tok) {
			t.Fatal("a fresh token is not signed in")
		}
	}

	// Sign-out on replica 0 with the phone's token, through its cookie, as the storefront
	// sends it (JSON: a cookie on a form post would sign nobody out).
	r := call(t, http.MethodPost, replicas[0]+"/api/users/signout", "", "Cookie", authn.CookieName+"="+annPhone,
		"Content-Type", "application/json")
	if r.Status != http.StatusOK || r.cookie == nil || r.cookie.MaxAge >= 0 {
		t.Fatalf("signout: %d %s, cookie %+v", r.Status, r.Body, r.cookie)
	}
	for _, base := range replicas {
		testkit.Eventually(t, 30*time.Second, "the signed-out token refused on "+base, func() bool { return !signedIn(base, annPhone) })
	}
	if !signedIn(replicas[1], ann) || !signedIn(replicas[1], bob) {
		t.Fatal("sign-out revoked another token")
	}

	// A password change with the laptop's token: a wrong current password changes nothing.
	change := func(tok, current, next string) response {
		b, _ := json.Marshal(map[string]string{"currentPassword": current, "newPassword": next})
		return call(t, http.MethodPut, replicas[1]+"/api/users/password", string(b), "Authorization", "Bearer "+tok)
	}
	wantField(t, change(ann, "wrong-password", "password2"), http.StatusBadRequest, "currentPassword")
	wantField(t, change(ann, "password1", "short"), http.StatusBadRequest, "newPassword")
	if r := change("", "password1", "password2"); r.Status != http.StatusUnauthorized {
		t.Errorf("password change signed out: %d", r.Status)
	}
	annNew := session(change(ann, "password1", "password2"), http.StatusOK)
	for _, base := range replicas {
		testkit.Eventually(t, 30*time.Second, "the token from before the change refused on "+base, func() bool { return !signedIn(base, ann) })
	}
	for _, base := range replicas {
		if !signedIn(base, annNew) || !signedIn(base, bob) {
			t.Errorf("%s: the token issued with the change, or another user's, is refused", base)
		}
	}
	if r := call(t, http.MethodPost, replicas[0]+"/api/users/signin", creds("ann@test.com", "password1")); r.Status != http.StatusUnauthorized {
		t.Errorf("sign-in with the old password: %d", r.Status)
	}
	session(call(t, http.MethodPost, replicas[0]+"/api/users/signin", creds("ann@test.com", "password2")), http.StatusOK)

	// A replica started now learns the revocations published before it.
	late := start(t, env)
	if signedIn(late, ann) || signedIn(late, annPhone) || !signedIn(late, annNew) {
		t.Error("a replica started after the revocations does not know them")
	}

	// A validly signed token for an account that does not exist cannot change a password.
	priv, err := authn.ParsePrivateKey(env["JWT_PRIVATE_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	ghost, _, _ := authn.NewSigner(priv, time.Hour).Issue("6650f0c2a1b2c3d4e5f60718", "ghost@test.com")
	if r := change(ghost, "password1", "password2"); r.Status != http.StatusUnauthorized {
		t.Errorf("password change for an unknown account: %d %s, want 401", r.Status, r.Body)
	}
}

// NATS is a degraded dependency of auth, as of the other services that publish through an
// outbox: while it is away /readyz answers 200 "Degraded" with nats degraded (and, verbose,
// why), and OK again once it is back.
func TestReadyzNATSDegraded(t *testing.T) {
	nats := testkit.StartNATS(t, t.TempDir())
	env := testEnv(t, nil)
	env["NATS_URL"] = nats.ClientURL()
	base := start(t, env)
	type ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
		Errors map[string]string `json:"errors"`
	}
	readyz := func() (int, ready) {
		r := call(t, http.MethodGet, base+"/readyz?verbose", "")
		var body ready
		r.JSON(&body)
		return r.Status, body
	}
	if status, body := readyz(); status != http.StatusOK || body.Status != "OK" || body.Checks["nats"] != "ok" || body.Checks["mongodb"] != "ok" {
		t.Fatalf("readyz with NATS up: %d %+v, want OK with nats and mongodb ok", status, body)
	}

	nats.Shutdown()
	nats.WaitForShutdown()
	var body ready
	testkit.Eventually(t, 10*time.Second, "readyz says NATS is degraded", func() bool {
		var status int
		status, body = readyz()
		return status == http.StatusOK && body.Status == "Degraded" && body.Checks["nats"] == "degraded"
	})
	if body.Checks["mongodb"] != "ok" || body.Errors["nats"] == "" {
		t.Errorf("readyz with NATS down: %+v, want mongodb ok and the error of nats", body)
	}

	nats.Restart()
	testkit.Eventually(t, 15*time.Second, "readyz is OK again once NATS is back", func() bool {
		status, body := readyz()
		return status == http.StatusOK && body.Status == "OK" && body.Checks["nats"] == "ok"
	})
}

package auth

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"ticketing/common/authn"
	"ticketing/common/config"
	"ticketing/common/testkit"
	"ticketing/services/auth/internal/password"
)

// BenchmarkSignin measures POST /api/users/signin on the handler that Run serves (router,
// middlewares, JSON decoding, the in-process limiter, the account lookup on the MongoDB in
// use, argon2id with the default parameters, token and cookie), driven in parallel on every
// core, without the network:
//
//	go test -run '^$' -bench BenchmarkSignin -benchtime 300x .
//
// It reports signins/s. "ok" signs in; "wrong-password" and "unknown-email" should cost the
// same as each other, since an unknown email verifies against a dummy hash.
func BenchmarkSignin(b *testing.B) {
	env := testkit.ServiceEnv(b, testkit.ExternalNATS(b))
	env["SIGNIN_EMAIL_LIMIT"], env["SIGNIN_CLIENT_LIMIT"] = "1000000", "1000000"
	cfg, err := LoadConfig(config.FromMap(env))
	if err != nil {
		b.Fatal(err)
	}
	if cfg.Argon2 != password.Default {
		b.Fatalf("argon2id %v, want the defaults %v", cfg.Argon2, password.Default)
	}
	srv, err := newServer(b.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)),
		testkit.MongoClient(b).Database(env["MONGODB_DATABASE"]), authn.NewVerifier(cfg.JWTPublicKey), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.close)
	post := func(path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.handler.ServeHTTP(rec, req)
		return rec
	}
	if rec := post("/api/users/signup", `{"email":"bench@test.com","password":"correct horse"}`); rec.Code != http.StatusCreated {
		b.Fatalf("signup: %d %s", rec.Code, rec.Body)
	}
	b.Logf("argon2id %v, %d hashes at once, GOMAXPROCS %d", cfg.Argon2, cfg.Argon2Concurrency, runtime.GOMAXPROCS(0))
	for _, bc := range []struct {
		name, email, password string
		status                int
	}{
		{"ok", "bench@test.com", "correct horse", http.StatusOK},
		{"wrong-password", "bench@test.com", "wrong horse", http.StatusUnauthorized},
		{"unknown-email", "nobody@test.com", "correct horse", http.StatusUnauthorized},
	} {
		body := fmt.Sprintf(`{"email":%q,"password":%q}`, bc.email, bc.password)
		b.Run(bc.name, func(b *testing.B) {
			cpu0 := testkit.CPUTime(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if rec := post("/api/users/signin", body); rec.Code != bc.status {
						b.Errorf("signin: %d %s, want %d", rec.Code, rec.Body, bc.status)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signins/s")
			// CPU time of the whole process per sign-in (the stand-in included, as it runs in
			// this process), which other load on the machine barely changes; 2 cores allow
			// about 2000/cpu-ms signins/s.
			b.ReportMetric(float64((testkit.CPUTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

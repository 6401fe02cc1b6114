package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ticketing/common/authn"
	"ticketing/common/errs"
	"ticketing/common/testkit"
	"ticketing/common/web"
)

type body struct {
	Title string  `json:"title"`
	Price float64 `json:"price"`
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name, ctype, body string
		status            int
		field             string
	}{
		{"ok", "application/json", `{"title":"a","price":1}`, 0, ""},
		{"no content type", "", `{"title":"a"}`, 0, ""},
		{"charset", "application/json; charset=utf-8", `{"title":"a"}`, 0, ""},
		{"empty", "application/json", ``, 400, ""},
		{"malformed", "application/json", `{"title":`, 400, ""},
		{"syntax", "application/json", `{title:1}`, 400, ""},
		{"wrong type", "application/json", `{"title":5}`, 400, "title"},
		{"wrong number type", "application/json", `{"price":"5"}`, 400, "price"},
		{"unknown field", "application/json", `{"titel":"a"}`, 400, "titel"},
		{"array", "application/json", `[1,2]`, 400, ""},
		{"two values", "application/json", `{"title":"a"}{"title":"b"}`, 400, ""},
		{"trailing garbage", "application/json", `{"title":"a"} x`, 400, ""},
		{"not json", "text/plain", `{"title":"a"}`, 415, ""},
		{"too large", "application/json", `{"title":"` + strings.Repeat("a", web.MaxBody) + `"}`, 413, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
			if c.ctype != "" {
				r.Header.Set("Content-Type", c.ctype)
			}
			var b body
			err := web.Decode(httptest.NewRecorder(), r, &b)
			if c.status == 0 {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind.Status() != c.status {
				t.Fatalf("err %v, want status %d", err, c.status)
			}
			if c.field != "" && (len(e.Fields) != 1 || e.Fields[0].Field != c.field) {
				t.Fatalf("fields %+v, want %s", e.Fields, c.field)
			}
		})
	}
}

func TestErrorShapeAndRouterDefaults(t *testing.T) {
	r := web.NewRouter(slog.New(slog.DiscardHandler), nil)
	r.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("secret internals") })
	r.Get("/fail", func(w http.ResponseWriter, r *http.Request) {
		web.Error(w, r, errors.New("db password is hunter2"))
	})
	r.Get("/timeout", func(w http.ResponseWriter, r *http.Request) {
		web.Error(w, r, errs.Wrap(errs.Internal, fmt.Errorf("hold ticket: %w: client timed out", context.DeadlineExceeded), ""))
	})
	r.With(web.RequireAuth).Get("/private", func(w http.ResponseWriter, r *http.Request) {})
	r.Get("/invalid", func(w http.ResponseWriter, r *http.Request) {
		var v errs.Validation
		v.Add("price", "price must be greater than 0")
		web.Error(w, r, v.Err())
	})
	for path, want := range map[string]int{"/boom": 500, "/fail": 500, "/timeout": 503, "/nope": 404, "/private": 401, "/invalid": 400} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("X-Request-Id", "req-123")
		r.ServeHTTP(w, req)
		if w.Code != want {
			t.Errorf("%s: status %d, want %d", path, w.Code, want)
		}
		if w.Header().Get("X-Request-Id") != "req-123" {
			t.Errorf("%s: request id not echoed", path)
		}
		var b web.ErrorBody
		if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || len(b.Errors) == 0 || b.Errors[0].Message == "" {
			t.Errorf("%s: body %q is not the error shape", path, w.Body.String())
		}
		if strings.Contains(w.Body.String(), "secret") || strings.Contains(w.Body.String(), "hunter2") {
			t.Errorf("%s: leaks internals: %s", path, w.Body.String())
		}
		if ra := w.Header().Get("Retry-After"); (path == "/timeout") != (ra != "") {
			t.Errorf("%s: Retry-After %q", path, ra)
		}
		if path == "/invalid" && b.Errors[0].Field != "price" {
			t.Errorf("field missing: %s", w.Body.String())
		}
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("DELETE", "/fail", nil))
	if w.Code != http.StatusMethodNotAllowed || !strings.Contains(w.Body.String(), "errors") {
		t.Errorf("405: %d %s", w.Code, w.Body.String())
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"title":"a","price":1.5}`, `{}`, `[]`, `{"title":null}`, `{"price":1e400}`, "\x00", `{"a":{"b":[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b body
		err := web.DecodeReader(strings.NewReader(string(data)), &b)
		if err == nil {
			return
		}
		var e *errs.Error
		if !errors.As(err, &e) {
			t.Fatalf("not an errs.Error: %v", err)
		}
		if s := e.Kind.Status(); s < 400 || s >= 500 {
			t.Fatalf("status %d for %q", s, data)
		}
	})
}

// TestSecurityHeadersOnEveryResponse: the router's answers, errors and probes included,
// carry the security headers.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	r := web.NewRouter(slog.New(slog.DiscardHandler), nil)
	web.Health(r, web.Probes{})
	r.Get("/ok", func(w http.ResponseWriter, _ *http.Request) { web.Respond(w, http.StatusOK, struct{}{}) })
	r.Get("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	for _, c := range []struct{ method, path string }{
		{"GET", "/ok"}, {"GET", "/missing"}, {"DELETE", "/ok"}, {"GET", "/panic"}, {"GET", "/healthz"},
	} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
		} {
			if got := w.Header().Get(k); got != want {
				t.Errorf("%s %s (%d): %s = %q, want %q", c.method, c.path, w.Code, k, got, want)
			}
		}
	}
}

// A session cookie signs in a request that changes state only when it is JSON from this site;
// a Bearer token, and reads, are not affected. The refusal is a 401 that says why.
func TestCookieRefusedOnCrossSiteWrites(t *testing.T) {
	k := testkit.NewKeyPair(t)
	tok, _, _ := authn.NewSigner(k.Private, time.Hour).Issue("u1", "a@b.c")
	r := web.NewRouter(slog.New(slog.DiscardHandler), authn.NewVerifier(k.Public))
	ok := func(w http.ResponseWriter, _ *http.Request) { web.Respond(w, http.StatusOK, struct{}{}) }
	r.With(web.RequireAuth).Post("/things", ok)
	r.With(web.RequireAuth).Delete("/things", ok)
	r.With(web.RequireAuth).Get("/things", ok)
	for _, c := range []struct {
		name, method, ctype, origin, fetchSite string
		bearer                                 bool
		want                                   int
	}{
		{"storefront server call", "POST", "application/json", "", "", false, 200},
		{"same-origin fetch", "POST", "application/json; charset=utf-8", "https://shop.example", "same-origin", false, 200},
		{"DELETE with JSON", "DELETE", "application/json", "", "", false, 200},
		{"read", "GET", "", "https://evil.example", "cross-site", false, 200},
		{"form post", "POST", "application/x-www-form-urlencoded", "", "", false, 401},
		{"text/plain post", "POST", "text/plain", "", "", false, 401},
		{"no content type", "POST", "", "", "", false, 401},
		{"DELETE without content type", "DELETE", "", "", "", false, 401},
		{"foreign origin", "POST", "application/json", "https://evil.example", "", false, 401},
		{"null origin", "POST", "application/json", "null", "", false, 401},
		{"cross-site fetch", "POST", "application/json", "", "cross-site", false, 401},
		{"bearer, no content type", "POST", "", "https://evil.example", "cross-site", true, 200},
	} {
		req := httptest.NewRequest(c.method, "/things", strings.NewReader(`{}`))
		req.Host = "shop.example"
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		if c.fetchSite != "" {
			req.Header.Set("Sec-Fetch-Site", c.fetchSite)
		}
		if c.bearer {
			req.Header.Set("Authorization", "Bearer "+tok)
		} else {
			req.AddCookie(&http.Cookie{Name: authn.CookieName, Value: tok})
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, w.Code, w.Body, c.want)
		}
		if w.Code == 401 && !strings.Contains(w.Body.String(), "application/json") {
			t.Errorf("%s: the refusal does not say why: %s", c.name, w.Body)
		}
	}
}

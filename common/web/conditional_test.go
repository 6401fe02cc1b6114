package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNotModified(t *testing.T) {
	const etag = `"abc"`
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"", false},
		{`"abc"`, true},
		{`W/"abc"`, true},
		{`"x", "abc"`, true},
		{` "x" ,W/"abc" `, true},
		{"*", true},
		{" * ", true},
		{"W/*", false},
		{`"x", *`, false},
		{`"abcd"`, false},
		{`abc`, false},
		{`"ab"c"`, false},
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.header != "" {
			req.Header.Set("If-None-Match", tc.header)
		}
		rec := httptest.NewRecorder()
		if got := NotModified(rec, req, etag, CachePublic); got != tc.want {
			t.Errorf("If-None-Match %q: %v, want %v", tc.header, got, tc.want)
		}
		if rec.Header().Get("ETag") != etag || rec.Header().Get("Cache-Control") != CachePublic {
			t.Errorf("If-None-Match %q: headers %v", tc.header, rec.Header())
		}
		if tc.want && (rec.Code != http.StatusNotModified || rec.Body.Len() != 0) {
			t.Errorf("If-None-Match %q: %d %q, want an empty 304", tc.header, rec.Code, rec.Body)
		}
	}
}

// FuzzETagMatches: any If-None-Match a browser or client sends is read without a panic, and
// matches the ETag only when it is "*" or one of its comma-separated tags is the ETag, weak or
// strong.
func FuzzETagMatches(f *testing.F) {
	for _, s := range []string{"", `"abc"`, `W/"abc"`, `"x", "abc"`, "*", ",,,", `W/`, "\x00\"abc\"", "W/*", `"x", *`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		const etag = `"abc"`
		got := ETagMatches(header, etag)
		want := strings.TrimSpace(header) == "*"
		for _, tag := range strings.Split(header, ",") {
			tag = strings.TrimSpace(tag)
			want = want || tag == etag || tag == "W/"+etag
		}
		if got != want {
			t.Fatalf("ETagMatches(%q) = %v, want %v", header, got, want)
		}
	})
}

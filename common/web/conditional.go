package web

import (
	"net/http"
	"strings"
)

// Cache-Control values of GET answers.
const (
	// CachePublic is for an answer that is the same for every caller and may be a second
	// old: browsers and shared caches keep it one second, then ask again with If-None-Match.
	CachePublic = "public, max-age=1"
	// CacheNone is for an answer that depends on the caller or must not be kept (errors).
	CacheNone = "no-store"
)

// NotModified sets the ETag and Cache-Control of a GET answer whose representation is etag
// (a quoted entity-tag, strong), and, when the request's If-None-Match names etag, answers
// 304 Not Modified and reports true: the caller then writes nothing more.
func NotModified(w http.ResponseWriter, r *http.Request, etag, cacheControl string) bool {
	h := w.Header()
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", etag)
	if !ETagMatches(r.Header.Get("If-None-Match"), etag) {
		return false
	}
	w.WriteHeader(http.StatusNotModified)
	return true
}

// ETagMatches reports whether an If-None-Match header value is "*" or names etag among its
// comma-separated entity-tags (weak comparison, as RFC 9110 asks for If-None-Match: W/"x"
// matches "x"). Anything else, "W/*" or a "*" inside a list among them, matches nothing.
func ETagMatches(header, etag string) bool {
	if header == "" || etag == "" {
		return false
	}
	if strings.TrimSpace(header) == "*" {
		return true
	}
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == etag || tag == "W/"+etag {
			return true
		}
	}
	return false
}

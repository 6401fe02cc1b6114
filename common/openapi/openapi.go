// Package openapi serves a service's OpenAPI document: written in YAML beside the routes it
// describes, embedded in the binary, converted to JSON once at start and served as
// <prefix>/openapi.json under the service's public API prefix, so the ingress routes it.
package openapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"

	"sigs.k8s.io/yaml"

	"ticketing/common/web"
)

// Path is where a service serves its document under its API prefix.
const Path = "/openapi.json"

// JSON converts a document written in YAML (or JSON) to JSON. It fails on a document that is
// not one YAML mapping.
func JSON(doc []byte) ([]byte, error) {
	out, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	if !bytes.HasPrefix(out, []byte("{")) {
		return nil, fmt.Errorf("openapi document: not a mapping")
	}
	return out, nil
}

// MustJSON is JSON for a document embedded in the binary: a broken document is a build
// mistake (the services' OpenAPI tests catch it first), so it panics.
func MustJSON(doc []byte) []byte {
	out, err := JSON(doc)
	if err != nil {
		panic(err)
	}
	return out
}

// Handler serves doc, a JSON document: 200 with a strong ETag and a short public cache
// lifetime (the document changes only with a release), or 304 to a request whose
// If-None-Match names that ETag. There are no other answers (no ranges).
func Handler(doc []byte) http.Handler {
	sum := sha256.Sum256(doc)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	length := strconv.Itoa(len(doc))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if web.NotModified(w, r, etag, "public, max-age=300") {
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", length)
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(doc)
		}
	})
}

// Package config reads a service's settings from the environment into one struct, collecting
// every problem so that a bad start names all of them at once.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Env reads variables through lookup (os.LookupEnv by default) and remembers what was wrong.
type Env struct {
	lookup func(string) (string, bool)
	errs   []error
}

// FromOS reads the process environment.
func FromOS() *Env { return &Env{lookup: os.LookupEnv} }

// FromMap reads m, for tests and the dev stack.
func FromMap(m map[string]string) *Env {
	return &Env{lookup: func(k string) (string, bool) { v, ok := m[k]; return v, ok }}
}

func (e *Env) get(key string) (string, bool) {
	v, ok := e.lookup(key)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// Fail records a problem with key.
func (e *Env) Fail(key, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// String is key's value, or def when unset.
func (e *Env) String(key, def string) string {
	if v, ok := e.get(key); ok {
		return v
	}
	return def
}

// Required is key's value; an unset key is an error.
func (e *Env) Required(key string) string {
	v, ok := e.get(key)
	if !ok {
		e.Fail(key, "is required")
	}
	return v
}

// Duration parses key as a Go duration ("15m"), def when unset; it must be positive.
func (e *Env) Duration(key string, def time.Duration) time.Duration {
	v, ok := e.get(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.Fail(key, "%q is not a positive duration such as 15m or 30s", v)
		return def
	}
	return d
}

// Int parses key as an integer in [min, max], def when unset.
func (e *Env) Int(key string, def, min, max int) int {
	v, ok := e.get(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		e.Fail(key, "%q is not an integer from %d to %d", v, min, max)
		return def
	}
	return n
}

// Bool parses key as a boolean, def when unset.
func (e *Env) Bool(key string, def bool) bool {
	v, ok := e.get(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.Fail(key, "%q is not true or false", v)
		return def
	}
	return b
}

// OneOf is key's value, which must be one of allowed; def when unset.
func (e *Env) OneOf(key, def string, allowed ...string) string {
	v := e.String(key, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	e.Fail(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

// Err joins every problem seen so far, or nil.
func (e *Env) Err() error { return errors.Join(e.errs...) }

// Mask hides a secret for logging, keeping only whether it is set.
func Mask(secret string) string {
	if secret == "" {
		return ""
	}
	return "[set]"
}

// sensitiveParam names a URL query parameter that may carry a credential.
var sensitiveParam = regexp.MustCompile(`(?i)pass|secret|token|key|credential|auth`)

// RedactURL is raw, a URL, for logging: without its user and password, and with the values
// of query parameters that may carry a credential replaced. Text that does not parse as a
// URL is masked whole.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return "[set, not a URL]"
	}
	u.User = nil
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if sensitiveParam.MatchString(k) {
				q[k] = []string{"xxxxx"}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// RedactURLs is RedactURL of each URL of a comma-separated list (NATS_URL's seed servers).
func RedactURLs(list string) string {
	urls := strings.Split(list, ",")
	for i, u := range urls {
		urls[i] = RedactURL(strings.TrimSpace(u))
	}
	return strings.Join(urls, ",")
}

package limiter

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"ticketing/common/ratelimit"
)

// keyRecorder is a counter that records the keys it is asked to count.
type keyRecorder struct {
	ratelimit.Counter
	keys []string
}

func (k *keyRecorder) Take(ctx context.Context, rules ...ratelimit.Rule) (time.Duration, error) {
	for _, r := range rules {
		k.keys = append(k.keys, r.Key)
	}
	return k.Counter.Take(ctx, rules...)
}

func TestSignInKeysAndRules(t *testing.T) {
	m := &keyRecorder{Counter: ratelimit.NewMemory()}
	s := &SignIn{Counter: m, EmailLimit: 2, ClientLimit: 3, Window: time.Minute, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := t.Context()
	acquire := func(email, client string) time.Duration {
		t.Helper()
		w, err := s.Acquire(ctx, email, client)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	acquire("ann@test.com", "10.0.0.1")
	acquire("ann@test.com", "10.0.0.2")
	if acquire("ann@test.com", "10.0.0.3") == 0 {
		t.Error("third failure for one email from another address allowed")
	}
	acquire("bob@test.com", "10.0.0.1")
	s.Succeeded(ctx, "bob@test.com", "10.0.0.1") // success: the client's attempt is given back
	acquire("cat@test.com", "10.0.0.1")
	acquire("dan@test.com", "10.0.0.1")
	if acquire("eve@test.com", "10.0.0.1") == 0 {
		t.Error("fourth failure from one client allowed")
	}
	s.Release(ctx, "dan@test.com", "10.0.0.1") // a fault: dan's attempt is given back
	if acquire("fay@test.com", "10.0.0.1") != 0 {
		t.Error("a released attempt still counts against the client")
	}
	s.Succeeded(ctx, "ann@test.com", "10.0.0.1")
	if acquire("ann@test.com", "10.0.0.9") != 0 {
		t.Error("a success did not clear the email's failures")
	}
	for _, k := range m.keys {
		if strings.Contains(k, "ann") || strings.Contains(k, "test.com") {
			t.Errorf("key %q holds the email in clear", k)
		}
	}
}

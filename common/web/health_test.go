package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/go-chi/chi/v5"

	"ticketing/common/testkit"
	"ticketing/common/web"
)

// TestReadinessFailsOnlyWithoutARequiredDependency: a degraded dependency (NATS) leaves the
// pod ready (200, status Degraded) and shows in ?verbose and in ticketing_dependency_up; a
// required one (the database) makes /readyz answer 503; /livez and /healthz ask nothing.
func TestReadinessFailsOnlyWithoutARequiredDependency(t *testing.T) {
	var dbDown, natsDown atomic.Bool
	check := func(down *atomic.Bool, msg string) web.Check {
		return func(context.Context) error {
			if down.Load() {
				return errors.New(msg)
			}
			return nil
		}
	}
	r := chi.NewRouter()
	web.Health(r, web.Probes{
		Required: map[string]web.Check{"mongodb-h": check(&dbDown, "no primary")},
		Degraded: map[string]web.Check{"nats-h": check(&natsDown, "nats: not connected")},
	})
	get := func(path string) (int, web.ReadyBody) {
		t.Helper()
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var b web.ReadyBody
		_ = json.Unmarshal(rec.Body.Bytes(), &b)
		return rec.Code, b
	}
	if code, b := get("/readyz"); code != 200 || b.Status != "OK" || b.Checks["nats-h"] != "ok" || b.Checks["mongodb-h"] != "ok" {
		t.Fatalf("all up: %d %+v", code, b)
	}

	natsDown.Store(true)
	code, b := get("/readyz")
	if code != 200 || b.Status != "Degraded" || b.Checks["nats-h"] != "degraded" || b.Errors != nil {
		t.Fatalf("NATS down: %d %+v, want 200 Degraded without errors", code, b)
	}
	if up := gauge(t, "nats-h", "0"); up != 0 {
		t.Errorf("ticketing_dependency_up{nats-h} = %v, want 0", up)
	}
	if code, b := get("/readyz?verbose"); code != 200 || b.Errors["nats-h"] != "nats: not connected" {
		t.Fatalf("verbose: %d %+v", code, b)
	}

	dbDown.Store(true)
	if code, b := get("/readyz"); code != 503 || b.Checks["mongodb-h"] != "unavailable" || b.Status != "Service Unavailable" {
		t.Fatalf("database down: %d %+v, want 503", code, b)
	}
	for _, p := range []string{"/livez", "/healthz"} {
		if code, _ := get(p); code != 200 {
			t.Errorf("%s with every dependency down: %d, want 200", p, code)
		}
	}
	dbDown.Store(false)
	natsDown.Store(false)
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("back up: %d", code)
	}
	if up := gauge(t, "nats-h", "0"); up != 1 {
		t.Errorf("ticketing_dependency_up{nats-h} = %v after recovery, want 1", up)
	}
}

func gauge(t *testing.T, dependency, required string) float64 {
	t.Helper()
	up, ok := testkit.Metric(t, "ticketing_dependency_up", map[string]string{"dependency": dependency, "required": required})
	if !ok {
		t.Fatalf("no ticketing_dependency_up{dependency=%q,required=%q}", dependency, required)
	}
	return up
}

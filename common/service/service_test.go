package service

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestMetricsHandlerServesProfilesOnlyWhenAsked(t *testing.T) {
	for _, withPprof := range []bool{false, true} {
		h := metricsHandler(withPprof)
		profiles := http.StatusNotFound
		if withPprof {
			profiles = http.StatusOK
		}
		for path, want := range map[string]int{
			"/metrics":               http.StatusOK,
			"/debug/pprof/":          profiles,
			"/debug/pprof/goroutine": profiles,
			"/debug/pprof/cmdline":   profiles,
		} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != want {
				t.Errorf("PPROF=%t: GET %s = %d, want %d", withPprof, path, rec.Code, want)
			}
		}
	}
}

func quietApp() *App {
	return &App{Base: Base{ShutdownTimeout: 5 * time.Second}, Log: slog.New(slog.DiscardHandler)}
}

func TestRunReleasesWhatAFailedSetupOpened(t *testing.T) {
	a := quietApp()
	var order []string
	failure := errors.New("bus down")
	err := a.Run(t.Context(), func(context.Context) (http.Handler, error) {
		a.OnClose(func(context.Context) { order = append(order, "close database") })
		a.OnStop(func(context.Context) { order = append(order, "stop listener") })
		a.OnClose(func(context.Context) { order = append(order, "close bus") })
		return nil, failure
	})
	if !errors.Is(err, failure) {
		t.Fatalf("Run = %v, want the setup's error", err)
	}
	want := []string{"stop listener", "close bus", "close database"}
	if !slices.Equal(order, want) {
		t.Fatalf("released %v, want %v", order, want)
	}
}

func TestEveryRunsRoundsUntilShutdownAndSurvivesFailures(t *testing.T) {
	a := quietApp()
	var rounds atomic.Int32
	a.Every("test sweeper", time.Millisecond, func(context.Context) error {
		rounds.Add(1)
		return errors.New("a round that fails")
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.tasks[0].run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for rounds.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d rounds in 60s, want 3", rounds.Load())
		}
		time.Sleep(time.Millisecond) // polling the counter
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("the loop ended with %v, want nil at shutdown", err)
	}
}

// The configuration line shows the shared settings without the credentials a URL may hold.
func TestLogConfigNeverLogsCredentials(t *testing.T) {
	var buf bytes.Buffer
	a := &App{Log: slog.New(slog.NewJSONHandler(&buf, nil)), Base: Base{
		HTTPAddr: ":3000", NATSURL: "nats://alice:natssecret@nats:4222",
		MongoURI: "mongodb://bob:mongosecret@db:27017/?replicaSet=rs0", MongoDatabase: "orders",
		OTLPEndpoint: "https://carol:otlpsecret@collector:4318",
	}}
	a.LogConfig("own_setting", 5)
	line := buf.String()
	for _, secret := range []string{"natssecret", "mongosecret", "otlpsecret", "alice", "bob", "carol"} {
		if strings.Contains(line, secret) {
			t.Errorf("the configuration line shows %q: %s", secret, line)
		}
	}
	for _, want := range []string{`"nats":"nats://nats:4222"`, `"mongodb":"mongodb://db:27017/?replicaSet=rs0"`, `"own_setting":5`} {
		if !strings.Contains(line, want) {
			t.Errorf("the configuration line lacks %s: %s", want, line)
		}
	}
}

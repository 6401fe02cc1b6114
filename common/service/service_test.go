package service

import (
	"net/http"
	"net/http/httptest"
	"testing"
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

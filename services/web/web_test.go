package web_test

import (
	"strings"
	"testing"

	"ticketing/common/config"
	"ticketing/services/web"
)

func TestLoadConfig(t *testing.T) {
	cfg, err := web.LoadConfig(config.FromMap(map[string]string{"API_BASE_URL": "http://gateway:8080/"}))
	if err != nil || cfg.APIBaseURL != "http://gateway:8080" || cfg.StripeJSURL != web.DefaultStripeJSURL {
		t.Fatalf("got %+v, %v", cfg, err)
	}
	_, err = web.LoadConfig(config.FromMap(map[string]string{"API_BASE_URL": "gateway", "STRIPE_JS_URL": "ftp://x"}))
	for _, key := range []string{"API_BASE_URL", "STRIPE_JS_URL"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("no error about %s in %v", key, err)
		}
	}
	if _, err := web.LoadConfig(config.FromMap(nil)); err == nil || !strings.Contains(err.Error(), "API_BASE_URL") {
		t.Errorf("without API_BASE_URL: %v", err)
	}
}

package payments_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"ticketing/common/config"
	"ticketing/common/testkit"
	"ticketing/services/payments"
)

func baseEnv(t *testing.T) map[string]string {
	t.Helper()
	full := testkit.ServiceEnv(t, "nats://127.0.0.1:4222")
	return map[string]string{
		"NATS_URL":       full["NATS_URL"],
		"MONGODB_URI":    full["MONGODB_URI"],
		"JWT_PUBLIC_KEY": full["JWT_PUBLIC_KEY"],
	}
}

// wantErrorsAbout loads the configuration of env and fails t unless the error names each
// of keys; it returns the error.
func wantErrorsAbout(t *testing.T, env map[string]string, keys ...string) error {
	t.Helper()
	_, err := payments.LoadConfig(config.FromMap(env))
	for _, key := range keys {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("no error about %s in %v", key, err)
		}
	}
	return err
}

// logLine is the log line of cfg's settings.
func logLine(cfg payments.Config) string {
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("configuration", cfg.LogAttrs()...)
	return buf.String()
}

func TestLoadConfig(t *testing.T) {
	t.Run("stripe by default, needs both secrets", func(t *testing.T) {
		wantErrorsAbout(t, baseEnv(t), "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")
	})
	t.Run("offline needs no secret key", func(t *testing.T) {
		env := baseEnv(t)
		env["PAYMENT_PROVIDER"] = "offline"
		env["STRIPE_WEBHOOK_SECRET"] = "whsec_1"
		cfg, err := payments.LoadConfig(config.FromMap(env))
		if err != nil || cfg.Provider != "offline" || cfg.Currency != "usd" {
			t.Fatalf("got %+v, %v", cfg, err)
		}
	})
	t.Run("razorpay needs its three secrets, not Stripe's", func(t *testing.T) {
		env := baseEnv(t)
		env["PAYMENT_PROVIDER"] = "razorpay"
		err := wantErrorsAbout(t, env, "RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET")
		if err != nil && strings.Contains(err.Error(), "STRIPE") {
			t.Errorf("razorpay asks for Stripe's settings: %v", err)
		}
		env["RAZORPAY_KEY_ID"] = "rzp_test_1"
		env["RAZORPAY_KEY_SECRET"] = "rzp_supersecret"
		env["RAZORPAY_WEBHOOK_SECRET"] = "rzp_webhook_supersecret"
		env["CURRENCY"] = "inr"
		cfg, err := payments.LoadConfig(config.FromMap(env))
		if err != nil || cfg.Provider != "razorpay" || cfg.RazorpayKeyID != "rzp_test_1" {
			t.Fatalf("got %+v, %v", cfg, err)
		}
		line := logLine(cfg)
		if strings.Contains(line, "supersecret") {
			t.Fatalf("log line: %s", line)
		}
		env["RAZORPAY_KEY_ID"] = "key_1"
		env["RAZORPAY_API_BASE"] = "ftp://x"
		wantErrorsAbout(t, env, "RAZORPAY_KEY_ID", "RAZORPAY_API_BASE")
	})
	t.Run("bad values", func(t *testing.T) {
		env := baseEnv(t)
		env["PAYMENT_PROVIDER"] = "paypal"
		env["STRIPE_WEBHOOK_SECRET"] = "whsec_1"
		env["STRIPE_API_BASE"] = "ftp://x"
		env["CURRENCY"] = "dollars"
		env["STRIPE_PUBLISHABLE_KEY"] = "sk_test_secret"
		wantErrorsAbout(t, env, "PAYMENT_PROVIDER", "STRIPE_API_BASE", "CURRENCY", "STRIPE_PUBLISHABLE_KEY")
	})
	t.Run("secrets are masked in logs", func(t *testing.T) {
		env := baseEnv(t)
		env["STRIPE_SECRET_KEY"] = "sk_test_supersecret"
		env["STRIPE_WEBHOOK_SECRET"] = "whsec_supersecret"
		env["STRIPE_API_BASE"] = "http://127.0.0.1:12111/"
		cfg, err := payments.LoadConfig(config.FromMap(env))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.StripeAPIBase != "http://127.0.0.1:12111" {
			t.Errorf("api base %q", cfg.StripeAPIBase)
		}
		line := logLine(cfg)
		if strings.Contains(line, "supersecret") || !strings.Contains(line, "[set]") {
			t.Fatalf("log line: %s", line)
		}
	})
}

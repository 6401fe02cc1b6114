package config

import "testing"

func TestRedactURLLogsNoCredential(t *testing.T) {
	for raw, want := range map[string]string{
		"":                              "",
		"nats://127.0.0.1:4222":         "nats://127.0.0.1:4222",
		"nats://alice:s3cret@nats:4222": "nats://nats:4222",
		"nats://tokenonly@nats:4222":    "nats://nats:4222",
		"mongodb://u:p@h1:27017,h2:27017/db?replicaSet=rs0&password=p": "mongodb://h1:27017,h2:27017/db?password=xxxxx&replicaSet=rs0",
		"https://otel:4318/v1/traces?api_key=k":                        "https://otel:4318/v1/traces?api_key=xxxxx",
		"user:pass@host":                                               "[set, not a URL]",
		"%zz://bad":                                                    "[set, not a URL]",
	} {
		if got := RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestRedactURLsRedactsEverySeed(t *testing.T) {
	got := RedactURLs("nats://alice:s3cret@n1:4222, nats://tok@n2:4222,nats://n3:4222")
	if want := "nats://n1:4222,nats://n2:4222,nats://n3:4222"; got != want {
		t.Fatalf("RedactURLs = %q, want %q", got, want)
	}
}

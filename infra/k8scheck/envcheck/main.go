//go:build ignore

// Command envcheck loads every rendered service environment with the
// service's own LoadConfig, so that a chart or manifest setting that a service
// would refuse at start (a missing required variable, a malformed value) fails
// CI instead of a rollout.
//
// scripts/check-k8s.sh runs it after the strict checks, which write envs.json
// ("bundle/service" -> environment), in a temporary workspace holding this
// file and the repository's go.work modules: the `ignore` build tag keeps it
// out of the k8scheck module, which must not depend on the services.
//
//	go run main.go envs.json
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"ticketing/common/config"
	"ticketing/services/auth"
	"ticketing/services/expiration"
	"ticketing/services/orders"
	"ticketing/services/payments"
	"ticketing/services/queue"
	"ticketing/services/tickets"
	"ticketing/services/web"
)

// loaders are the services' configuration loaders, as their main packages call them.
var loaders = map[string]func(*config.Env) error{
	"auth":       func(e *config.Env) error { _, err := auth.LoadConfig(e); return err },
	"tickets":    func(e *config.Env) error { _, err := tickets.LoadConfig(e); return err },
	"orders":     func(e *config.Env) error { _, err := orders.LoadConfig(e); return err },
	"expiration": func(e *config.Env) error { _, err := expiration.LoadConfig(e); return err },
	"payments":   func(e *config.Env) error { _, err := payments.LoadConfig(e); return err },
	"web":        func(e *config.Env) error { _, err := web.LoadConfig(e); return err },
	"queue":      func(e *config.Env) error { _, err := queue.LoadConfig(e); return err },
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run main.go envs.json")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	var envs map[string]map[string]string
	if err := json.Unmarshal(data, &envs); err != nil {
		fail(err)
	}
	secrets, err := secretValues()
	if err != nil {
		fail(err)
	}
	passed, failed := 0, 0
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range envs {
			if !yield(k) {
				return
			}
		}
	}) {
		load, ok := loaders[path.Base(name)]
		if !ok {
			fmt.Printf("envcheck: %s: no loader for service %q\n", name, path.Base(name))
			failed++
			continue
		}
		env := map[string]string{}
		for k, v := range envs[name] {
			if ref, ok := strings.CutPrefix(v, "secret:"); ok {
				v = secrets(ref)
			}
			env[k] = v
		}
		if err := load(config.FromMap(env)); err != nil {
			fmt.Printf("envcheck: %s refuses its configuration:\n%v\n", name, err)
			failed++
			continue
		}
		passed++
	}
	fmt.Printf("envcheck: %d passed, %d failed\n", passed, failed)
	if failed > 0 || passed == 0 {
		os.Exit(1)
	}
}

// secretValues stands in for the user-provided Secrets: a real Ed25519 key
// pair for the JWT keys, plausible values for the rest.
func secretValues() (func(ref string) string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	byKey := map[string]string{
		"private.pem":     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})),
		"public.pem":      string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})),
		"secret-key":      "sk_test_envcheck",
		"webhook-secret":  "whsec_envcheck",
		"publishable-key": "pk_test_envcheck",
		"key-id":          "rzp_test_envcheck",
		"key-secret":      "rzp_secret_envcheck",
		"provider":        "offline",
		"uri":             "mongodb://mongo-0.example:27017,mongo-1.example:27017/?replicaSet=rs0&w=majority&retryWrites=true",
		"url":             "nats://nats.example:4222",
		"password":        "envcheck",
	}
	return func(ref string) string {
		if v, ok := byKey[path.Base(ref)]; ok {
			return v
		}
		return "envcheck"
	}, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "envcheck:", err)
	os.Exit(1)
}

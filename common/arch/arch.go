// Package arch checks the architecture rules of the repository on its import graph, as
// `go list` reports it (its test runs in `make lint`):
//
//   - every service has the template's packages: a domain package per aggregate, app, store
//     (and api and listener where it serves HTTP or consumes events); a frontend (Frontends),
//     which owns no data, has app and api only;
//   - a domain package imports nothing from common but the event contract
//     (ticketing/common/events), and no store, HTTP package or driver;
//   - the api and listener packages call the application, never a store;
//   - services import only common, never another service; common imports no service;
//   - no package but tests depends on the test kit (ticketing/common/testkit): a production
//     package that calls the API uses ticketing/common/apiclient.
package arch

import (
	"fmt"
	"slices"
	"strings"
)

// Package is what the rules read of a package: its import path, its direct imports and
// every package it depends on.
type Package struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// Domains names the domain package of each service (services/<name>/internal/<domain>).
var Domains = map[string]string{
	"auth":       "user",
	"tickets":    "ticket",
	"orders":     "order",
	"payments":   "payment",
	"expiration": "expiry",
	"queue":      "line",
}

// Frontends are services that own no data and consume no events: clients of the public REST
// API, with an app package (the API client) and an api package (the pages) only.
var Frontends = map[string]bool{"web": true}

const (
	services = "ticketing/services/"
	common   = "ticketing/common/"
	contract = "ticketing/common/events"
	testkit  = "ticketing/common/testkit"
)

// forbiddenInDomain are prefixes of imports a domain package must not have: HTTP and drivers.
var forbiddenInDomain = []string{
	"net/http", "go.mongodb.org/", "github.com/nats-io/", "github.com/redis/", "github.com/hibiken/",
	"github.com/stripe/", "github.com/go-chi/",
}

// service and role of a service package: ("orders", "store") for
// ticketing/services/orders/internal/store; role "" for the service's own package.
func split(path string) (service, role string, ok bool) {
	rest, ok := strings.CutPrefix(path, services)
	if !ok {
		return "", "", false
	}
	service, rest, _ = strings.Cut(rest, "/")
	if r, ok := strings.CutPrefix(rest, "internal/"); ok {
		role, _, _ = strings.Cut(r, "/")
	}
	return service, role, true
}

// Violations lists every broken rule among pkgs.
func Violations(pkgs []Package) []string {
	var out []string
	fail := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	roles := map[string]map[string]bool{}
	for _, p := range pkgs {
		svc, role, isService := split(p.ImportPath)
		if isService {
			if roles[svc] == nil {
				roles[svc] = map[string]bool{}
			}
			roles[svc][role] = true
		}
		for _, dep := range p.Deps {
			depSvc, _, depIsService := split(dep)
			switch {
			case dep == testkit && !strings.HasPrefix(p.ImportPath, testkit):
				fail("%s depends on %s, which only tests may import", p.ImportPath, dep)
			case strings.HasPrefix(p.ImportPath, common) && depIsService:
				fail("%s (common) depends on the service package %s", p.ImportPath, dep)
			case isService && depIsService && depSvc != svc:
				fail("%s depends on %s, another service's package", p.ImportPath, dep)
			}
		}
		if !isService {
			continue
		}
		domain, known := Domains[svc]
		switch {
		case Frontends[svc]:
		case !known:
			fail("service %s has no domain package in arch.Domains", svc)
		case role == domain:
			for _, imp := range p.Imports {
				for _, bad := range forbiddenInDomain {
					if root := strings.TrimSuffix(bad, "/"); imp == root || strings.HasPrefix(imp, root+"/") {
						fail("domain package %s imports %s: a domain knows no HTTP and no driver", p.ImportPath, imp)
					}
				}
			}
			for _, dep := range p.Deps {
				if strings.HasPrefix(dep, "ticketing/") && dep != contract && !slices.Contains(Deps(pkgs, contract), dep) {
					fail("domain package %s depends on %s: a domain imports nothing from common but %s, and no other package of its service",
						p.ImportPath, dep, contract)
				}
			}
		case role == "api" || role == "listener":
			for _, imp := range p.Imports {
				if s, r, ok := split(imp); ok && s == svc && r == "store" {
					fail("%s imports %s: handlers and listeners call the application, never a store", p.ImportPath, imp)
				}
			}
		}
	}
	for svc, have := range roles {
		want := []string{"app", "store"}
		if Frontends[svc] {
			want = []string{"app", "api"}
		}
		if d, ok := Domains[svc]; ok {
			want = append(want, d)
		}
		for _, role := range want {
			if !have[role] {
				fail("service %s has no internal/%s package", svc, role)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Deps is the ticketing packages that path depends on, as pkgs report it.
func Deps(pkgs []Package, path string) []string {
	for _, p := range pkgs {
		if p.ImportPath == path {
			return p.Deps
		}
	}
	return nil
}

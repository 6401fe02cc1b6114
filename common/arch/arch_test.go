package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// list is `go list -deps` of the common module and the services, each package with its
// imports and dependencies.
func list(t *testing.T) []Package {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports,Deps", "ticketing/common/...", "ticketing/services/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(p.ImportPath, "ticketing/") {
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages of the repository", len(pkgs))
	}
	return pkgs
}

func TestTheRepositoryKeepsItsArchitecture(t *testing.T) {
	pkgs := list(t)
	for _, v := range Violations(pkgs) {
		t.Error(v)
	}
	// Every domain package was seen, so the rules above did look at it.
	for svc, domain := range Domains {
		if !listed(pkgs, services+svc+"/internal/"+domain) {
			t.Errorf("the domain package of %s (internal/%s) is not in the import graph", svc, domain)
		}
	}
}

func listed(pkgs []Package, path string) bool {
	for _, p := range pkgs {
		if p.ImportPath == path {
			return true
		}
	}
	return false
}

// The rules catch each kind of break: the check fails the day someone writes one.
func TestViolationsAreFound(t *testing.T) {
	const orders = services + "orders/internal/"
	ok := []Package{
		{ImportPath: contract},
		{ImportPath: orders + "order", Imports: []string{"errors", "time", contract}, Deps: []string{"errors", "time", contract}},
		{ImportPath: orders + "app", Imports: []string{orders + "order", orders + "store"}},
		{ImportPath: orders + "store", Imports: []string{"ticketing/common/bus", orders + "order"}},
		{ImportPath: orders + "api", Imports: []string{"net/http", "ticketing/common/errs", orders + "app"}},
		{ImportPath: orders + "listener", Imports: []string{orders + "app"}},
	}
	if v := Violations(ok); len(v) != 0 {
		t.Fatalf("a sound graph breaks rules: %v", v)
	}
	for _, tc := range []struct {
		name string
		pkg  Package
		want string
	}{
		{"domain imports errs", Package{ImportPath: orders + "order", Imports: []string{"ticketing/common/errs"},
			Deps: []string{"ticketing/common/errs"}}, "depends on ticketing/common/errs"},
		{"domain imports net/http", Package{ImportPath: orders + "order", Imports: []string{"net/http"}, Deps: []string{"net/http"}},
			"imports net/http"},
		{"domain imports a store", Package{ImportPath: orders + "order", Imports: []string{orders + "store"},
			Deps: []string{orders + "store"}}, "depends on " + orders + "store"},
		{"domain imports a driver", Package{ImportPath: orders + "order", Imports: []string{"go.mongodb.org/mongo-driver/v2/bson"}},
			"imports go.mongodb.org/mongo-driver/v2/bson"},
		{"domain reaches errs through another package", Package{ImportPath: orders + "order", Imports: []string{"ticketing/common/web"},
			Deps: []string{"ticketing/common/errs", "ticketing/common/web"}}, "depends on ticketing/common/errs"},
		{"api calls the store", Package{ImportPath: orders + "api", Imports: []string{orders + "store"}}, "never a store"},
		{"listener calls the store", Package{ImportPath: orders + "listener", Imports: []string{orders + "store"}}, "never a store"},
		{"service imports another", Package{ImportPath: orders + "app", Deps: []string{services + "tickets/internal/ticket"}},
			"another service's package"},
		{"common imports a service", Package{ImportPath: "ticketing/common/web", Deps: []string{orders + "order"}},
			"(common) depends on the service package"},
		{"production code imports the test kit", Package{ImportPath: orders + "app", Imports: []string{"ticketing/common/testkit"},
			Deps: []string{"ticketing/common/testkit"}}, "which only tests may import"},
		{"service without a domain", Package{ImportPath: services + "shipping/internal/app"}, "no domain package"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkgs := append([]Package(nil), ok...)
			replaced := false
			for i, p := range pkgs {
				if p.ImportPath == tc.pkg.ImportPath {
					pkgs[i], replaced = tc.pkg, true
				}
			}
			if !replaced {
				pkgs = append(pkgs, tc.pkg)
			}
			v := Violations(pkgs)
			if !strings.Contains(strings.Join(v, "\n"), tc.want) {
				t.Errorf("violations %q, want one saying %q", v, tc.want)
			}
		})
	}
	// A service without its application package.
	noApp := []Package{{ImportPath: contract}, {ImportPath: orders + "order"}, {ImportPath: orders + "store"}}
	if v := strings.Join(Violations(noApp), "\n"); !strings.Contains(v, "no internal/app package") {
		t.Errorf("violations %q, want one about the missing app", v)
	}
}

package stripemock

import (
	"os"
	"regexp"
	"testing"
)

// The Makefile builds the stripe-mock this package is written against.
func TestMakefilePinsVersion(t *testing.T) {
	mk, err := os.ReadFile("../../../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^STRIPE_MOCK_VERSION := (\S+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile: no STRIPE_MOCK_VERSION line")
	}
	if string(m[1]) != Version {
		t.Errorf("Makefile builds stripe-mock %s, the tests are written against %s", m[1], Version)
	}
}

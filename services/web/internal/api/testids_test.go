package api

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"ticketing/common/apidoc"
)

// Every data-testid the pages carry is in the contract, docs/API.md's "Storefront" table:
// browser tests other than ours find elements by these names.
func TestTestIDsDocumented(t *testing.T) {
	ref, err := apidoc.Read()
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(ref, "\n## Storefront\n")
	if !ok {
		t.Fatal("docs/API.md has no Storefront section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	testID := regexp.MustCompile(`data-testid="([^"]+)"`)
	for _, n := range names {
		b, err := templateFiles.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range testID.FindAllStringSubmatch(string(b), -1) {
			if !strings.Contains(section, "`"+m[1]+"`") {
				t.Errorf("%s: data-testid %q is not in docs/API.md's Storefront table", n, m[1])
			}
		}
	}
}

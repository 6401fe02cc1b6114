// Package stripemock starts stripe-mock (github.com/stripe/stripe-mock) for tests: Stripe's
// own API schema checks every request the service sends. Import it from tests only.
package stripemock

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Version is the stripe-mock the tests are written against.
const Version = "v0.203.0"

// InstallCommand installs it.
const InstallCommand = "go install github.com/stripe/stripe-mock@" + Version

// EnvBinary names the stripe-mock binary to run; `make test` sets it to the one it built.
const EnvBinary = "STRIPE_MOCK"

// Binary returns $STRIPE_MOCK when set, else finds stripe-mock in PATH or in
// $(go env GOPATH)/bin, or returns "".
func Binary() string {
	if p := os.Getenv(EnvBinary); p != "" {
		return p
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, p := range filepath.SplitList(gopath) {
		dirs = append(dirs, filepath.Join(p, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "stripe-mock")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

var listening = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// Start runs stripe-mock on a free 127.0.0.1 port until the test ends and returns its base
// URL (for STRIPE_API_BASE). A missing binary fails the test with the command to install it.
func Start(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Fatalf("stripe-mock is not installed (looked at $%s, in PATH and $(go env GOPATH)/bin): `make test` builds it, or run `%s`", EnvBinary, InstallCommand)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatalf("stripe-mock: %v", err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("stripe-mock: start %s: %v", bin, err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	addr := make(chan string, 1)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case <-done:
		t.Fatalf("stripe-mock exited before listening")
	case <-time.After(30 * time.Second):
		t.Fatalf("stripe-mock did not listen within 30s")
	}
	return ""
}

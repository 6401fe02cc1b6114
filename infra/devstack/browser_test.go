package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// InstallChromium is how to get the browser the storefront's tests drive.
const InstallChromium = "apt-get install -y chromium"

// chromiumPath finds Chromium (CHROMIUM overrides); a machine without it fails the test with
// the install command, so that CI never skips the browser tests silently.
func chromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("the storefront's browser tests need Chromium, which is not installed: run `%s`", InstallChromium)
	return ""
}

// browser is one headless Chromium with a fresh profile; each newTab is a tab in it that
// shares its cookies, and each newWindow a separate incognito-like context (its own
// cookies), for a second user.
type browser struct {
	t     testing.TB
	ctx   context.Context
	base  string
	shots string // where screenshots go
}

func newBrowser(t testing.TB, base string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 860),
	}
	for _, on := range []string{"headless", "no-sandbox", "disable-gpu", "disable-quic", "no-first-run",
		"no-default-browser-check", "disable-background-networking", "disable-component-update",
		"disable-sync", "disable-dev-shm-usage", "hide-scrollbars", "mute-audio"} {
		opts = append(opts, chromedp.Flag(on, true))
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	shots := t.TempDir()
	if dir := os.Getenv("STOREFRONT_SCREENSHOTS"); dir != "" {
		shots = dir
	}
	return &browser{t: t, ctx: bctx, base: base, shots: shots}
}

// person is one person at the storefront: a browser context with its own cookies.
type person struct {
	t    testing.TB
	ctx  context.Context
	base string
	b    *browser
}

// newUser opens a new browser context (its own cookie jar) for a person.
func (b *browser) newUser() *person {
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatal(err)
	}
	return &person{t: b.t, ctx: ctx, base: b.base, b: b}
}

func sel(testID string) string { return `[data-testid="` + testID + `"]` }

// run runs actions, failing the test on an error, within a deadline.
func (u *person) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		u.t.Fatalf("%s: %v (at %s)", what, err, u.location())
	}
}

func (u *person) open(path string) {
	u.t.Helper()
	u.run("open "+path, chromedp.Navigate(u.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

func (u *person) location() string {
	ctx, cancel := context.WithTimeout(u.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// path is the current page's path and query.
func (u *person) path() string { return strings.TrimPrefix(u.location(), u.base) }

func (u *person) fill(testID, value string) {
	u.t.Helper()
	u.run("fill "+testID, chromedp.SetValue(chromedp.CSS(sel(testID)), value))
}

// submit clicks testID and waits for the page the form leads to (a new document).
func (u *person) submit(testID string) {
	u.t.Helper()
	u.eval("mark the page", `window.__before = true`)
	u.run("click "+testID, chromedp.Click(chromedp.CSS(sel(testID))))
	u.eventually(30*time.Second, "the page after "+testID, func() bool {
		ctx, cancel := context.WithTimeout(u.ctx, 5*time.Second)
		defer cancel()
		fresh, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__before !== true && document.readyState === "complete"`))
		return err == nil && fresh
	})
}

// eval runs a script in the page.
func (u *person) eval(what, js string) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](js)); err != nil {
		u.t.Fatalf("%s: %v", what, err)
	}
}

// text is the text of testID's element, "" when there is none.
func (u *person) text(testID string) string {
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	js := fmt.Sprintf(`(function(){var e=document.querySelector(%q);return e&&!e.hidden?e.textContent.trim():""})()`, sel(testID))
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		return ""
	}
	return s
}

func (u *person) has(testID string) bool {
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q) !== null`, sel(testID))))
	return ok
}

// eventually polls cond until it holds.
func (u *person) eventually(timeout time.Duration, what string, cond func() bool) {
	u.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			u.t.Fatalf("%s: not within %s (at %s; error %q)", what, timeout, u.location(), u.text("error"))
		}
		time.Sleep(100 * time.Millisecond) // polling the page: the condition is a page's state
	}
}

// waitText waits until testID's text satisfies want.
func (u *person) waitText(testID string, timeout time.Duration, want func(string) bool, what string) string {
	u.t.Helper()
	var got string
	u.eventually(timeout, what, func() bool { got = u.text(testID); return want(got) })
	return got
}

func equals(s string) func(string) bool { return func(v string) bool { return v == s } }
func contains(s string) func(string) bool {
	return func(v string) bool { return strings.Contains(v, s) }
}

// screenshot saves the page as name.png (full page, PNG) in the screenshots folder.
func (u *person) screenshot(name string) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		u.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err = os.WriteFile(filepath.Join(u.b.shots, name+".png"), png, 0o644); err != nil {
		u.t.Fatal(err)
	}
}

// signUp creates an account from /signup?next=next and waits to land on next.
func (u *person) signUp(email, next string) {
	u.t.Helper()
	u.open("/signup?next=" + next)
	u.fill("email", email)
	u.fill("password", "correct horse battery")
	u.submit("submit")
	u.waitText("current-user", 30*time.Second, equals(email), "signed up as "+email)
}

// signUpBack signs up from the sign-in page the person was sent to (its Sign up link) and
// checks that they land back at back.
func (u *person) signUpBack(email, back string) {
	u.t.Helper()
	u.submit("nav-signup")
	u.fill("email", email)
	u.fill("password", "correct horse battery")
	u.submit("submit")
	u.waitText("current-user", 30*time.Second, equals(email), "signed up as "+email)
	if p := u.path(); p != back {
		u.t.Fatalf("after signing up %s is at %s, want back at %s", email, p, back)
	}
}

// sell lists a ticket from /tickets/new and returns its page's path.
func (u *person) sell(title, price string) string {
	u.t.Helper()
	u.open("/tickets/new")
	u.fill("title", title)
	u.fill("price", price)
	u.submit("submit")
	u.waitText("ticket-title", 30*time.Second, equals(title), "the new ticket's page")
	return u.path()
}

// buy presses Buy on a ticket page and returns the order page's path. A ticket listed a
// moment ago may not be orderable yet (the orders service learns of it from the bus): the
// page says so, and the person presses Buy again.
func (u *person) buy(ticketPath string) string {
	u.t.Helper()
	u.eventually(30*time.Second, "an order for "+ticketPath, func() bool {
		u.open(ticketPath)
		u.submit("buy")
		return u.text("order-status") == "created"
	})
	return u.path()
}

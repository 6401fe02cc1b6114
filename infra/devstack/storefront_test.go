package main

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"ticketing/common/testkit"
	"ticketing/services/payments/razorpaymock"
)

// startStorefrontStack runs the platform in this process with the storefront behind the
// gateway; env is added to every service's settings.
func startStorefrontStack(t *testing.T, env map[string]string) *Stack {
	t.Helper()
	rs := testkit.Redis(t)
	return startStack(t, Options{RedisAddr: rs.Addr, RedisDB: rs.DB, LogLevel: "warn", Env: env})
}

// TestStorefront: people use the platform through the storefront in a real browser (headless
// Chromium): sign up, sell, buy, watch the countdown, pay with a test card, see the order
// complete; a declined card; cancelling; a hold that expires; a seller cannot buy their own
// ticket; a signed-out visitor who presses Buy signs in and comes back. The screenshots of
// the main pages are written to STOREFRONT_SCREENSHOTS when set (`make screenshots`).
func TestStorefront(t *testing.T) {
	// Holds last 45s here, so that the expired hold below lapses within the test while the
	// other orders are paid or cancelled well before theirs.
	s := startStorefrontStack(t, map[string]string{"EXPIRATION_WINDOW": "45s"})
	b := newBrowser(t, s.URL)
	seller, buyer := b.newUser(), b.newUser()

	// A visitor sees the storefront, signed out.
	seller.open("/")
	if !seller.has("nav-signin") || !seller.has("nav-signup") {
		t.Fatal("the signed-out header has no sign-in and sign-up links")
	}

	// The seller signs up on the way to selling, and the form shows the API's messages by
	// their fields.
	seller.open("/tickets/new")
	if p := seller.path(); !strings.HasPrefix(p, "/signin?next=") {
		t.Fatalf("signed out, /tickets/new shows %s", p)
	}
	seller.signUp("seller@example.com", "/tickets/new")
	if p := seller.path(); p != "/tickets/new" {
		t.Fatalf("after signing up the seller is at %s, want /tickets/new", p)
	}
	seller.fill("title", "  ")
	seller.fill("price", "twenty")
	seller.submit("submit")
	seller.waitText("title-error", 10*time.Second, func(s string) bool { return s != "" }, "the title's message")
	seller.waitText("price-error", 10*time.Second, func(s string) bool { return s != "" }, "the price's message")
	seller.screenshot("sell-validation")

	paid := seller.sell("Jazz night, row A", "20.5")
	if got := seller.text("ticket-price"); got != "$20.50" {
		t.Errorf("price shown as %q", got)
	}
	if seller.text("ticket-status") != "available" || !seller.has("edit") || seller.has("buy") {
		t.Fatalf("the seller's own ticket page: status %q, edit %v, buy %v", seller.text("ticket-status"), seller.has("edit"), seller.has("buy"))
	}
	seller.screenshot("ticket-seller")
	declined := seller.sell("Opera, balcony", "35")
	expiring := seller.sell("Theatre matinee", "12.75")

	// Editing lands on the ticket page.
	seller.open(declined + "/edit")
	seller.fill("price", "40")
	seller.submit("submit")
	seller.waitText("ticket-price", 10*time.Second, equals("$40.00"), "the edited price")

	seller.open("/")
	seller.waitText("ticket-title", 10*time.Second, equals("Theatre matinee"), "the newest ticket first")
	seller.screenshot("home")
	// The same page on a phone-sized screen.
	seller.run("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	seller.open("/")
	seller.screenshot("home-phone")
	seller.run("desktop viewport", chromedp.ResetViewport())

	// Signed out, Buy sends to sign in; signing up there comes back to the ticket.
	buyer.open(paid)
	if buyer.text("ticket-status") != "available" || !buyer.has("buy") {
		t.Fatalf("a signed-out visitor sees no Buy on a free ticket (status %q)", buyer.text("ticket-status"))
	}
	buyer.submit("buy")
	if p := buyer.path(); p != "/signin?next="+url.QueryEscape(paid) {
		t.Fatalf("signed-out Buy lands on %s", p)
	}
	buyer.signUpBack("buyer@example.com", paid)

	// A hold left alone expires; checked at the end.
	expiringOrder := buyer.buy(expiring)

	// Buy, watch the countdown, pay with a test card, see the order complete.
	order := buyer.buy(paid)
	first := buyer.text("expires-in")
	if !strings.Contains(first, ":") {
		t.Fatalf("countdown shows %q", first)
	}
	buyer.waitText("expires-in", 10*time.Second, func(s string) bool { return s != first && strings.Contains(s, ":") }, "the countdown ticking")
	buyer.screenshot("order-hold")
	buyer.run("choose tok_visa", chromedp.SetValue(chromedp.CSS(sel("test-card")), "tok_visa"))
	buyer.submit("pay")
	buyer.waitText("order-status", 30*time.Second, equals("complete"), "the order completing by itself")
	if buyer.has("pay") || buyer.has("cancel") {
		t.Error("a complete order still offers Pay or Cancel")
	}
	buyer.screenshot("order-complete")
	buyer.open(paid)
	buyer.waitText("ticket-status", 10*time.Second, equals("sold"), "the ticket sold")
	if buyer.has("buy") {
		t.Error("a sold ticket offers Buy")
	}

	// A declined card says so and keeps the hold; then the buyer cancels it.
	declinedOrder := buyer.buy(declined)
	buyer.run("choose tok_chargeDeclined", chromedp.SetValue(chromedp.CSS(sel("test-card")), "tok_chargeDeclined"))
	buyer.submit("pay")
	buyer.waitText("error", 10*time.Second, contains("declined"), "the decline")
	// The attempt started (awaiting:payment) and failed: the order is created again, and the
	// page follows it there.
	buyer.waitText("order-status", 30*time.Second, equals("created"), "the order created again after the decline")
	buyer.screenshot("order-declined")
	buyer.submit("cancel")
	buyer.waitText("order-status", 10*time.Second, equals("cancelled"), "the order cancelled")
	if p := buyer.path(); p != declinedOrder {
		t.Errorf("cancelling lands on %s", p)
	}
	buyer.eventually(30*time.Second, "the cancelled order's ticket for sale again", func() bool {
		buyer.open(declined)
		return buyer.text("ticket-status") == "available"
	})

	// My orders lists them with their status.
	buyer.open("/orders")
	buyer.eventually(10*time.Second, "three orders listed", func() bool {
		n, _ := chromedp.Run(buyer.ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="order-row"]').length`))
		return n == 3
	})
	buyer.screenshot("orders")

	// The seller is not offered Buy on their own ticket.
	seller.open(declined)
	if seller.has("buy") {
		t.Fatal("the seller is offered Buy on their own ticket")
	}

	// The hold left alone expires: the order page says so, by itself.
	buyer.open(expiringOrder)
	buyer.waitText("order-status", 90*time.Second, equals("cancelled"), "the hold expiring")
	buyer.waitText("error", 10*time.Second, contains("expired"), "the expiry explained")
	buyer.screenshot("order-expired")

	// Signing out shows the sign-in link again.
	buyer.open(order)
	buyer.submit("signout")
	if !buyer.has("nav-signin") {
		t.Fatal("after signing out there is no sign-in link")
	}
}

// TestStorefrontStripe: with the Stripe provider, the order page mounts Stripe's Payment
// Element (a fake Stripe.js here, served from the URL the storefront is given) and confirms
// the PaymentIntent that POST /api/payments created; the signed webhook completes the order,
// which the page shows by itself.
func TestStorefrontStripe(t *testing.T) {
	const webhookSecret = "whsec_storefront_test"
	stripe := newFakeStripe(t, webhookSecret)
	s := startStorefrontStack(t, map[string]string{
		"PAYMENT_PROVIDER":       "stripe",
		"STRIPE_SECRET_KEY":      "sk_test_storefront",
		"STRIPE_PUBLISHABLE_KEY": "pk_test_storefront",
		"STRIPE_WEBHOOK_SECRET":  webhookSecret,
		"STRIPE_API_BASE":        stripe.URL(),
		"STRIPE_JS_URL":          stripe.URL() + "/v3/",
	})
	stripe.webhookURL = s.URL + "/api/payments/webhook"
	buyer, order := sellOne(t, s.URL, "stripe", "Festival pass", "99.99")

	buyer.eventually(30*time.Second, "the Payment Element mounted", func() bool { return buyer.has("fake-card") })
	if buyer.has("test-card") {
		t.Fatal("with Stripe the page offers the offline test cards")
	}
	buyer.screenshot("order-stripe")

	// A declined card: Stripe.js says so, and the order still holds the ticket.
	buyer.fill("fake-card", "4000 0000 0000 0002")
	buyer.run("pay", chromedp.Click(chromedp.CSS(sel("pay"))))
	buyer.waitText("error", 30*time.Second, contains("declined"), "the decline")
	// Stripe's payment_intent.payment_failed returns the order to created (the intent stays
	// open for another card); the page follows it there.
	buyer.waitText("order-status", 30*time.Second, equals("created"), "the order created again after the decline")

	buyer.fill("fake-card", "4242 4242 4242 4242")
	buyer.run("pay", chromedp.Click(chromedp.CSS(sel("pay"))))
	buyer.waitText("order-status", 60*time.Second, equals("complete"), "the webhook completing the order")
	if p := buyer.path(); p != order {
		t.Errorf("paying with Stripe.js left the page for %s", p)
	}
}

// TestStorefrontRazorpay: with the Razorpay provider, the order page opens Razorpay Checkout
// (a fake checkout.js, served from the URL the storefront is given, paying at the fake
// Razorpay that the payments service is pointed at); Checkout's result goes through the
// storefront to the verify route, and the order completes, which the page shows by itself.
func TestStorefrontRazorpay(t *testing.T) {
	fake := razorpaymock.Start(t, "rzp_test_storefront", "rzp_secret_storefront", "rzp_webhook_storefront")
	s := startStorefrontStack(t, map[string]string{
		"PAYMENT_PROVIDER":        "razorpay",
		"RAZORPAY_KEY_ID":         fake.KeyID,
		"RAZORPAY_KEY_SECRET":     fake.KeySecret,
		"RAZORPAY_WEBHOOK_SECRET": fake.WebhookSecret,
		"RAZORPAY_API_BASE":       fake.URL(),
		"RAZORPAY_CHECKOUT_URL":   fake.URL() + "/v1/checkout.js",
		"CURRENCY":                "inr",
	})
	fake.WebhookURL = s.URL + "/api/payments/razorpay/webhook"
	buyer, order := sellOne(t, s.URL, "razorpay", "Mela pass", "1499")

	buyer.eventually(30*time.Second, "Checkout offered", func() bool { return buyer.has("razorpay-checkout") })
	if buyer.has("test-card") || buyer.has("payment-element") {
		t.Fatal("with Razorpay the page offers another payment form")
	}
	buyer.run("pay", chromedp.Click(chromedp.CSS(sel("pay"))))
	buyer.waitText("order-status", 60*time.Second, equals("complete"), "the order completed after Checkout")
	if p := strings.TrimSuffix(buyer.path(), "?paid=1"); p != order {
		t.Errorf("paying with Checkout left the page for %s", p)
	}
	if n, c := fake.OrdersCreated(), fake.Captures(); n != 1 || c != 1 {
		t.Errorf("%d Razorpay orders and %d captures, want 1 and 1", n, c)
	}
}

// sellOne opens the storefront at url in a browser where a seller (who-seller@example.com)
// lists a ticket, title at price, and a buyer (who-buyer@example.com) orders it: it
// returns the buyer, on the order's page, and the page's path.
func sellOne(t *testing.T, url, who, title, price string) (buyer *person, order string) {
	t.Helper()
	b := newBrowser(t, url)
	seller, buyer := b.newUser(), b.newUser()
	seller.signUp(who+"-seller@example.com", "/tickets/new")
	ticket := seller.sell(title, price)
	buyer.signUp(who+"-buyer@example.com", "/")
	return buyer, buyer.buy(ticket)
}

package events_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"ticketing/common/events"
)

func TestDecodeRoundTripsEveryEvent(t *testing.T) {
	oid := "o1"
	roundTrip(t, events.TicketCreated{ID: "t1", Title: "a", PriceCents: 1, UserID: "u"})
	roundTrip(t, events.TicketUpdated{ID: "t1", Version: 2, Title: "a", PriceCents: 1, UserID: "u", OrderID: &oid})
	roundTrip(t, events.OrderCreated{ID: "o1", Status: "created", UserID: "u", ExpiresAt: time.Now().UTC().Truncate(time.Millisecond), Ticket: events.TicketRef{ID: "t1", PriceCents: 5}})
	roundTrip(t, events.OrderCancelled{ID: "o1", Version: 1, Ticket: events.TicketRef{ID: "t1"}})
	roundTrip(t, events.OrderCompleted{ID: "o1", Version: 1, Ticket: events.TicketRef{ID: "t1"}})
	roundTrip(t, events.ExpirationCompleted{OrderID: "o1"})
	roundTrip(t, events.PaymentCreated{ID: "p1", OrderID: "o1", StripeID: "pi_1"})
	roundTrip(t, events.PaymentRefunded{ID: "p1", OrderID: "o1", StripeID: "pi_1", Reason: "order cancelled"})
	roundTrip(t, events.OrderUpdated{ID: "o1", Version: 1, Status: "awaiting:payment", ExpiresAt: time.Now().UTC().Truncate(time.Millisecond), Cause: "payment-started", Ticket: events.TicketRef{ID: "t1"}})
	roundTrip(t, events.PaymentStarted{ID: "p1", OrderID: "o1", Attempt: 1})
	roundTrip(t, events.PaymentFailed{ID: "p1", OrderID: "o1", Attempt: 1, Reason: "Your card was declined."})
}

// roundTrip checks that e, encoded, decodes as an E that encodes the same, with schema 1 and
// a stream for its subject.
func roundTrip[E events.Event](t *testing.T, e E) {
	t.Helper()
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := events.Decode[E](data)
	if err != nil {
		t.Fatalf("%s: %v", e.Subject(), err)
	}
	again, _ := json.Marshal(got)
	if string(again) != string(data) {
		t.Errorf("%s: %s != %s", e.Subject(), again, data)
	}
	stream := events.Topology{}.StreamOf(e.Subject())
	if e.Schema() != 1 || stream == "" {
		t.Errorf("%s: schema %d, stream %q", e.Subject(), e.Schema(), stream)
	}
}

func TestDecodeRefusesInvalidPayloads(t *testing.T) {
	for _, body := range []string{``, `null`, `[]`, `{"id":1}`, `{"id":"t","version":0,"title":"x","priceCents":0,"userId":"u"}`,
		`{"id":"t","version":-1,"title":"x","priceCents":5,"userId":"u"}`} {
		if _, err := events.Decode[events.TicketCreated]([]byte(body)); !errors.Is(err, events.ErrInvalid) {
			t.Errorf("%q: err = %v, want ErrInvalid", body, err)
		}
	}
}

// A revocation names one token or every token of a user issued before a time, never both or
// neither, and says until when to keep it.
func TestSessionRevokedRules(t *testing.T) {
	for body, ok := range map[string]bool{
		`{"userId":"u","tokenId":"j","expiresAt":"2026-01-01T00:00:00Z"}`:                                       true,
		`{"userId":"u","issuedBefore":"2026-01-01T00:00:00Z","expiresAt":"2026-01-02T00:00:00Z"}`:               true,
		`{"userId":"u","tokenId":"j","issuedBefore":"2026-01-01T00:00:00Z","expiresAt":"2026-01-02T00:00:00Z"}`: false,
		`{"userId":"u","expiresAt":"2026-01-02T00:00:00Z"}`:                                                     false,
		`{"tokenId":"j","expiresAt":"2026-01-02T00:00:00Z"}`:                                                    false,
		`{"userId":"u","tokenId":"j"}`:                                                                          false,
		`{"userId":"u","issuedBefore":"0001-01-01T00:00:00Z","expiresAt":"2026-01-02T00:00:00Z"}`:               false,
	} {
		if _, err := events.Decode[events.SessionRevoked]([]byte(body)); (err == nil) != ok {
			t.Errorf("%s: err %v, want ok=%v", body, err, ok)
		}
	}
	for _, s := range (events.Topology{}).Streams() {
		if s.Name == events.StreamSessions && (s.MaxAge != events.SessionRetention || s.Subjects[0] != "session.>") {
			t.Errorf("SESSIONS stream %+v", s)
		}
	}
}

func TestTopologyPrefix(t *testing.T) {
	top := events.Topology{Prefix: "run1"}
	if got := top.Subject("order.created"); got != "run1.order.created" {
		t.Errorf("subject %q", got)
	}
	if got := top.StreamOf("order.created"); got != "RUN1_ORDERS" {
		t.Errorf("stream %q", got)
	}
	for _, s := range top.Streams() {
		if s.Duplicates != events.DefaultDuplicateWindow || s.Replicas != 1 || len(s.Subjects) != 1 {
			t.Errorf("stream %+v", s)
		}
	}
	if events.Durable("orders", "ticket.created") != "orders-ticket-created" {
		t.Error("durable name")
	}
}

func FuzzDecodeEvents(f *testing.F) {
	for _, seed := range []string{
		`{"id":"t1","version":0,"title":"a","priceCents":100,"userId":"u"}`,
		`{"id":"t1","version":3,"title":"a","priceCents":100,"userId":"u","orderId":null}`,
		`{"id":"o1","version":0,"status":"created","userId":"u","expiresAt":"2026-01-01T00:00:00Z","ticket":{"id":"t","priceCents":5}}`,
		`{"orderId":"o1"}`, `{"orderId":"o1","expiresAt":"2026-01-01T00:00:00Z"}`, `{"id":"p","orderId":"o","stripeId":"pi"}`, `{`, `[]`, `"x"`,
		`{"id":"o1","version":1,"status":"awaiting:payment","expiresAt":"2026-01-01T00:00:00Z","cause":"payment-started","ticket":{"id":"t"}}`,
		`{"id":"p","orderId":"o","attempt":1}`, `{"id":"p","orderId":"o","attempt":2,"reason":"declined"}`,
		`{"id":"e1","version":0,"title":"Gala","userId":"u","onSaleAt":"2030-01-01T00:00:00Z","ticketCount":10,"maxPerUser":4,"admitPerMinute":600}`,
		`{"id":"o1","version":0,"status":"created","userId":"u","expiresAt":"2026-01-01T00:00:00Z","ticket":{"id":"t","priceCents":5,"eventId":"e1"}}`,
		`{"userId":"u","tokenId":"j","expiresAt":"2026-01-01T00:00:00Z"}`,
		`{"userId":"u","issuedBefore":"2026-01-01T00:00:00Z","expiresAt":"2026-01-02T00:00:00Z"}`,
		`{"userId":"u","tokenId":"j","issuedBefore":"0001-01-01T00:00:00Z","expiresAt":"2026-01-01T00:00:00Z"}`,
		`{"id":"o1","version":0,"status":"created","userId":"u","expiresAt":"2026-01-01T00:00:00Z","ticket":{"id":"t","priceCents":5,"version":3}}`,
		`{"id":"t1","version":4,"orderId":"o1","reason":"ticket-changed"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(e events.Event, err error) {
			if err == nil {
				if verr := e.Validate(); verr != nil {
					t.Fatalf("decoded an invalid event: %v", verr)
				}
			} else if !errors.Is(err, events.ErrInvalid) {
				t.Fatalf("error not marked invalid: %v", err)
			}
		}
		e1, err := events.Decode[events.TicketCreated](data)
		check(e1, err)
		e2, err := events.Decode[events.TicketUpdated](data)
		check(e2, err)
		e3, err := events.Decode[events.OrderCreated](data)
		check(e3, err)
		e4, err := events.Decode[events.OrderCancelled](data)
		check(e4, err)
		e5, err := events.Decode[events.OrderCompleted](data)
		check(e5, err)
		e6, err := events.Decode[events.ExpirationCompleted](data)
		check(e6, err)
		e7, err := events.Decode[events.PaymentCreated](data)
		check(e7, err)
		e8, err := events.Decode[events.PaymentRefunded](data)
		check(e8, err)
		e9, err := events.Decode[events.OrderUpdated](data)
		check(e9, err)
		e10, err := events.Decode[events.PaymentStarted](data)
		check(e10, err)
		e11, err := events.Decode[events.PaymentFailed](data)
		check(e11, err)
		e12, err := events.Decode[events.EventCreated](data)
		check(e12, err)
		e13, err := events.Decode[events.SessionRevoked](data)
		check(e13, err)
		e14, err := events.Decode[events.TicketRefused](data)
		check(e14, err)
	})
}

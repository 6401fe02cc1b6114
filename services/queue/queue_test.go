package queue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"ticketing/common/authn"
	"ticketing/common/bus"
	"ticketing/common/config"
	"ticketing/common/events"
	"ticketing/common/testkit"
	"ticketing/services/queue"
)

type harness struct {
	t        *testing.T
	url      string
	conn     *bus.Conn
	verifier *authn.PassVerifier
}

func start(t *testing.T) *harness {
	t.Helper()
	natsURL := testkit.NATS(t)
	env := testkit.ServiceEnv(t, natsURL)
	rs := testkit.Redis(t)
	k := testkit.NewKeyPair(t)
	priv, pub := k.PrivatePEM, k.PublicPEM
	env["REDIS_ADDR"], env["REDIS_DB"] = rs.Addr, strconv.Itoa(rs.DB)
	env["QUEUE_PRIVATE_KEY"] = priv
	env["QUEUE_TICK"] = "50ms"
	env["QUEUE_PASS_TTL"] = "1m"
	cfg, err := queue.LoadConfig(config.FromMap(env))
	if err != nil {
		t.Fatal(err)
	}
	url := testkit.Serve(t, func(ctx context.Context, ready func(string)) error {
		cfg.Ready = ready
		return queue.Run(ctx, cfg)
	})
	b := testkit.ConnectBus(t, natsURL, "queue-test", events.Topology{})
	pk, err := authn.ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, url: url, conn: b.Conn, verifier: authn.NewPassVerifier(pk)}
}

func publish[E events.Event](h *harness, e E) {
	h.t.Helper()
	if err := bus.Publish(h.t.Context(), h.conn, "", e); err != nil {
		h.t.Fatal(err)
	}
}

type placeJSON struct {
	EventID              string     `json:"eventId"`
	Status               string     `json:"status"`
	Position             *int64     `json:"position"`
	Ahead                *int64     `json:"ahead"`
	EstimatedWaitSeconds int64      `json:"estimatedWaitSeconds"`
	Pass                 *string    `json:"pass"`
	PassExpiresAt        *time.Time `json:"passExpiresAt"`
}

func (h *harness) call(method, path, user string) (int, placeJSON, []byte) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.url+path, nil)
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+testkit.Token(h.t, user, user+"@example.com"))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var p placeJSON
	if res.StatusCode == http.StatusOK {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			h.t.Fatalf("%s: %v", body, err)
		}
	}
	return res.StatusCode, p, body
}

// The waiting room over HTTP and the bus: an event learnt from event.created, buyers joining
// before the sale (no position yet), admitted when it opens while tickets are free, each with a
// pass that the orders side verifies for that buyer and event only; closed while every ticket
// is held, open again when an order is cancelled.
func TestWaitingRoom(t *testing.T) {
	h := start(t)
	const event, other = "6650a1f4c2a9b2e5d4f3e001", "6650a1f4c2a9b2e5d4f3e002"
	if s, _, body := h.call("POST", "/api/queue/"+event, "u00"); s != http.StatusNotFound || !bytes.Contains(body, []byte("Event not found")) {
		t.Fatalf("unknown event: %d %s", s, body)
	}
	if s, _, _ := h.call("POST", "/api/queue/"+event, ""); s != http.StatusUnauthorized {
		t.Fatalf("signed out: %d", s)
	}
	open := time.Now().Add(3 * time.Second).Truncate(time.Second)
	publish(h, events.EventCreated{ID: event, Title: "Gala", UserID: "s", OnSaleAt: open, TicketCount: 3, MaxPerUser: 1, AdmitPerMinute: 6000})
	var p placeJSON
	testkit.Eventually(t, 15*time.Second, "the queue knows the event", func() bool {
		s, got, _ := h.call("POST", "/api/queue/"+event, "u00")
		p = got
		return s == http.StatusOK
	})
	if time.Now().Before(open) && (p.Status != "waiting" || p.Position != nil || p.Ahead != nil || p.Pass != nil) {
		t.Errorf("before the sale: %+v", p)
	}
	for i := 1; i < 8; i++ {
		h.call("POST", "/api/queue/"+event, fmt.Sprintf("u%02d", i))
	}
	if s, _, _ := h.call("GET", "/api/queue/"+event, "stranger"); s != http.StatusNotFound {
		t.Errorf("not joined: %d", s)
	}

	// The sale opens: 3 tickets, 3 admitted, no more.
	admitted := map[string]placeJSON{}
	testkit.Eventually(t, 20*time.Second, "3 buyers admitted", func() bool {
		for i := range 8 {
			u := fmt.Sprintf("u%02d", i)
			if _, p, _ := h.call("GET", "/api/queue/"+event, u); p.Status == "admitted" {
				admitted[u] = p
			}
		}
		return len(admitted) == 3
	})
	var waiting []placeJSON
	for i := range 8 {
		u := fmt.Sprintf("u%02d", i)
		if _, ok := admitted[u]; ok {
			continue
		}
		_, p, _ := h.call("GET", "/api/queue/"+event, u)
		if p.Status != "waiting" || p.Position == nil || *p.Ahead != *p.Position-1 || p.EstimatedWaitSeconds < 1 {
			t.Errorf("%s: %+v", u, p)
		}
		waiting = append(waiting, p)
	}
	if len(admitted) != 3 || len(waiting) != 5 {
		t.Fatalf("%d admitted, %d waiting", len(admitted), len(waiting))
	}
	for u, p := range admitted {
		if p.Pass == nil || p.PassExpiresAt == nil || p.Position != nil {
			t.Fatalf("%s: %+v", u, p)
		}
		if _, err := h.verifier.Verify(*p.Pass, u, event); err != nil {
			t.Errorf("%s's pass: %v", u, err)
		}
		for _, wrong := range [][2]string{{"u99", event}, {u, other}} {
			if _, err := h.verifier.Verify(*p.Pass, wrong[0], wrong[1]); !errors.Is(err, authn.ErrInvalidPass) {
				t.Errorf("%s's pass for %v: %v", u, wrong, err)
			}
		}
	}

	// Every admitted buyer orders; then every ticket is held: the line is closed. One order is
	// cancelled: it opens, and one more buyer is admitted.
	n := 0
	for u := range admitted {
		n++
		publish(h, events.OrderCreated{ID: fmt.Sprintf("o%d", n), Status: events.OrderStatusCreated, UserID: u,
			ExpiresAt: time.Now().Add(time.Minute), Ticket: events.TicketRef{ID: fmt.Sprintf("t%d", n), PriceCents: 100, EventID: event}})
	}
	probe := ""
	for i := range 8 {
		if _, ok := admitted[fmt.Sprintf("u%02d", i)]; !ok {
			probe = fmt.Sprintf("u%02d", i)
			break
		}
	}
	testkit.Eventually(t, 15*time.Second, "closed when every ticket is held", func() bool {
		_, p, _ := h.call("GET", "/api/queue/"+event, probe)
		return p.Status == "closed"
	})
	publish(h, events.OrderCancelled{ID: "o1", Version: 1, Ticket: events.TicketRef{ID: "t1", EventID: event}})
	testkit.Eventually(t, 15*time.Second, "one more admitted after a cancel", func() bool {
		count := 0
		for i := range 8 {
			u := fmt.Sprintf("u%02d", i)
			if _, ok := admitted[u]; ok {
				continue
			}
			if _, p, _ := h.call("GET", "/api/queue/"+event, u); p.Status == "admitted" {
				count++
			}
		}
		return count == 1
	})
	// A late joiner goes to the back.
	_, late, _ := h.call("POST", "/api/queue/"+event, "late")
	if late.Position == nil || *late.Position != int64(len(waiting)) {
		t.Errorf("late joiner: %+v, want position %d", late, len(waiting))
	}
}

package testkit

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// EnvNATSURL names the external NATS server that [ExternalNATS] returns.
const EnvNATSURL = "NATS_URL"

// DefaultNATSURL is what [ExternalNATS] returns when EnvNATSURL is unset.
const DefaultNATSURL = "nats://127.0.0.1:4222"

// NATS starts an embedded NATS server with JetStream for t and returns its
// client URL. It is always embedded, even when NATS_URL is set: JetStream
// streams are global to a server, so tests sharing one would collide.
func NATS(t testing.TB) string {
	t.Helper()
	return StartNATS(t, t.TempDir()).ClientURL()
}

// ExternalNATS returns NATS_URL, or DefaultNATSURL when it is unset, for the
// tests that run against a shared server (the end-to-end run). Such tests
// must use stream and subject names of their own.
func ExternalNATS(t testing.TB) string {
	t.Helper()
	return cmp.Or(os.Getenv(EnvNATSURL), DefaultNATSURL)
}

// NATSServer is an embedded NATS server with JetStream, shut down when the
// test that started it ends.
type NATSServer struct {
	*server.Server
	t        testing.TB
	storeDir string
	port     int
}

// StartNATS starts an embedded NATS server with JetStream on a random
// 127.0.0.1 port, storing streams in storeDir.
func StartNATS(t testing.TB, storeDir string) *NATSServer {
	t.Helper()
	s := &NATSServer{t: t, storeDir: storeDir}
	s.start(server.RANDOM_PORT)
	return s
}

// Restart shuts the server down and starts it again on the same port and
// store directory, as a crash and restart would: clients reconnect, and
// streams and durable consumers survive. The server may already be shut
// down (to test an outage). Call it from the test's goroutine.
func (s *NATSServer) Restart() {
	s.t.Helper()
	s.Shutdown()
	s.WaitForShutdown()
	s.start(s.port)
}

func (s *NATSServer) start(port int) {
	s.t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  s.storeDir,
		NoLog:     true,
		NoSigs:    true,
	})
	if err != nil {
		s.t.Fatalf("testkit: NATS: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		s.t.Fatal("testkit: NATS not ready after 10s")
	}
	s.Server = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
	s.t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
}

// ConsumerIdle waits, up to timeout, until the durable consumer of stream has nothing
// left to deliver and nothing awaiting an ack or a redelivery (NumPending and NumAckPending
// both 0): every message the stream holds for it is acknowledged or terminated, so no
// handler runs again for them. Tests assert "nothing more arrived" after it, not after a
// sleep.
func ConsumerIdle(t testing.TB, js jetstream.JetStream, stream, durable string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	state := "no answer"
	for {
		if c, err := js.Consumer(ctx, stream, durable); err != nil {
			state = err.Error()
		} else if ci, err := c.Info(ctx); err != nil {
			state = err.Error()
		} else if ci.NumPending == 0 && ci.NumAckPending == 0 {
			return
		} else {
			state = fmt.Sprintf("%d pending, %d awaiting ack", ci.NumPending, ci.NumAckPending)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testkit: not within %s: consumer %s of %s idle (last seen: %s)", timeout, durable, stream, state)
		case <-time.After(20 * time.Millisecond): // polling interval
		}
	}
}

package testkit

import (
	"cmp"
	"net"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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

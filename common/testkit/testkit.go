// Package testkit gives tests the real dependencies of the services, each
// isolated per test and cleaned up with t.Cleanup:
//
//   - [Mongo]: a fresh MongoDB database, on MONGODB_URI when set, otherwise on
//     the gated FerretDB stand-in of package standin, started once per test
//     binary (SQLite by default; TESTKIT_MONGO_BACKEND=postgresql selects
//     PostgreSQL, at TESTKIT_POSTGRES_URL);
//   - [NATS], [StartNATS]: an embedded NATS server with JetStream;
//   - [Redis]: a real redis-server started from PATH, or a database of the
//     server at REDIS_ADDR.
//
// and the helpers every service's tests share: [Serve] and [ServeStoppable] run a service;
// [NewAPI] is the typed client of the REST API (package apiclient) with checks that fail the
// test; [ConnectBus] is the test's own bus connection, to publish, wait until a durable
// consumer has handled everything ([Bus.Handled]), read or record a stream; [Counter] and
// [Metric] read the process's Prometheus registry.
//
// Import it from _test.go files only.
package testkit

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process may take it before the caller listens on it.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testkit: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

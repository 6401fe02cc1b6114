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

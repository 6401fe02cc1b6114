package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The private cluster starts (initdb the first time), accepts connections on 127.0.0.1, stops,
// and starts again on the same data.
func TestPrivatePostgres(t *testing.T) {
	bin := postgresBinDir()
	if bin == "" {
		t.Skip("no PostgreSQL server binaries")
	}
	// Not t.TempDir, whose parent only its owner may enter: as root the cluster runs as the
	// user postgres, which must reach its data directory.
	base, err := os.MkdirTemp("", "devstack-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			_ = os.RemoveAll(base)
		}
	})
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "postgres")
	for round := range 2 {
		pg, err := startPostgres(t.Context(), bin, dir)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		host := pg.url[len("postgres://postgres@"):]
		host = host[:len(host)-len("/postgres")]
		c, err := net.DialTimeout("tcp", host, 5*time.Second)
		if err != nil {
			pg.stop()
			t.Fatalf("round %d: %v", round, err)
		}
		_ = c.Close()
		pg.stop()
		if c, err := net.DialTimeout("tcp", host, time.Second); err == nil {
			_ = c.Close()
			t.Fatalf("round %d: still listening at %s after stop", round, host)
		}
	}
}

//go:build unix

package testkit

import (
	"syscall"
	"testing"
	"time"
)

// CPUTime is the user and system CPU time the process has used: a benchmark's CPU per
// operation, which other load on a shared machine barely changes (wall time does).
func CPUTime(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

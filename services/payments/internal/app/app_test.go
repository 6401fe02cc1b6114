package app_test

import (
	"testing"
	"time"

	"ticketing/services/payments/internal/app"
)

// TestReplicaPollsAreFew: a payment for a fresh-looking order id that never reaches the
// replica reads it a handful of times over the wait, not every 50 ms (60 reads for 3 s).
func TestReplicaPollsAreFew(t *testing.T) {
	for _, c := range []struct {
		wait     time.Duration
		maxReads int
	}{{3 * time.Second, 7}, {time.Second, 6}, {30 * time.Millisecond, 2}, {10 * time.Second, 9}} {
		pauses := app.ReplicaPolls(c.wait)
		var total time.Duration
		for i, p := range pauses {
			if p <= 0 || (i > 0 && i < len(pauses)-1 && p != 2*pauses[i-1]) {
				t.Fatalf("wait %s: pauses %v do not double", c.wait, pauses)
			}
			total += p
		}
		if total != c.wait {
			t.Errorf("wait %s: pauses add up to %s", c.wait, total)
		}
		if reads := len(pauses) + 1; reads > c.maxReads {
			t.Errorf("wait %s: %d reads (pauses %v), want at most %d", c.wait, reads, pauses, c.maxReads)
		}
		if pauses[0] > 50*time.Millisecond {
			t.Errorf("wait %s: the first pause is %s, a replica a moment behind waits too long", c.wait, pauses[0])
		}
	}
}

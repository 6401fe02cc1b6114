package expiration_test

import (
	"net/http"
	"testing"
	"time"

	"ticketing/common/testkit"
)

// maxLate is the acceptance bound on how long after expiresAt expiration.completed is out.
const maxLate = 1500 * time.Millisecond

func TestOrderExpiresOnceAtItsExpiresAt(t *testing.T) {
	h := start(t)
	// Due 900ms into a second, at least 2s ahead: asynq would run it 900ms early.
	now := time.Now()
	expiresAt := now.Add(2 * time.Second).Truncate(time.Second).Add(900 * time.Millisecond)
	if expiresAt.Sub(now) < 2*time.Second {
		expiresAt = expiresAt.Add(time.Second)
	}
	id := newOrderID()
	h.created(id, expiresAt)

	h.handled("order.created")
	if got := h.taskState(id); got != "scheduled" {
		t.Fatalf("task state %q after order.created, want scheduled", got)
	}
	testkit.Eventually(t, time.Until(expiresAt)+5*time.Second, "expiration.completed", func() bool {
		return len(h.expired.of(id)) > 0
	})
	testkit.Eventually(t, 5*time.Second, "task completed", func() bool { return h.taskState(id) == "completed" })
	late := checkOnTime(t, h.expired, id, expiresAt, maxLate)
	t.Logf("lateness %v", late)
	if n := h.queueInfo().ProcessedTotal; n != 1 {
		t.Errorf("asynq processed %d tasks, want 1", n)
	}
}

func TestFiftyOrdersSpreadOverThreeSecondsExpireOnTime(t *testing.T) {
	h := start(t)
	const n = 50
	first := time.Now().Add(2 * time.Second)
	ids := make([]string, n)
	due := make([]time.Time, n)
	for i := range n {
		ids[i], due[i] = newOrderID(), first.Add(time.Duration(i)*3*time.Second/n)
		h.created(ids[i], due[i])
	}
	testkit.Eventually(t, time.Until(due[n-1])+5*time.Second, "50 expiration.completed", func() bool {
		return h.expired.total() >= n
	})
	testkit.Eventually(t, 5*time.Second, "50 tasks completed", func() bool {
		return h.queueInfo().Completed == n
	})
	var worst time.Duration
	for i := range n {
		worst = max(worst, checkOnTime(t, h.expired, ids[i], due[i], maxLate))
	}
	if got := h.expired.total(); got != n {
		t.Errorf("%d expiration.completed in all, want %d", got, n)
	}
	t.Logf("worst lateness %v", worst)
}

func TestRedeliveredOrderCreatedSchedulesOneTaskAndOneEvent(t *testing.T) {
	h := start(t)
	id, expiresAt := newOrderID(), time.Now().Add(2*time.Second)
	for range 3 {
		h.created(id, expiresAt)
	}
	h.handled("order.created")
	if info := h.queueInfo(); info.Scheduled != 1 || info.Size != 1 {
		t.Fatalf("after three order.created: %d scheduled, %d tasks in all; want 1 and 1", info.Scheduled, info.Size)
	}
	if got := h.taskState(id); got != "scheduled" {
		t.Fatalf("task state %q, want scheduled", got)
	}

	testkit.Eventually(t, time.Until(expiresAt)+5*time.Second, "task completed", func() bool {
		return h.taskState(id) == "completed"
	})
	checkOnTime(t, h.expired, id, expiresAt, maxLate)

	// A late duplicate within the retention finds the finished task and schedules nothing,
	// although its expiresAt has passed (it would run at once otherwise).
	h.created(id, expiresAt)
	h.handled("order.created")
	info := h.queueInfo()
	live := info.Scheduled + info.Pending + info.Active + info.Retry + info.Archived
	if info.ProcessedTotal != 1 || live != 0 || info.Completed != 1 {
		t.Errorf("after a late duplicate: %d processed, %d live tasks, %d completed; want 1, 0, 1",
			info.ProcessedTotal, live, info.Completed)
	}
	if got := len(h.expired.of(id)); got != 1 {
		t.Errorf("%d expiration.completed, want 1", got)
	}
}

func TestSettledOrderDoesNotExpire(t *testing.T) {
	h := start(t)
	now := time.Now()
	cancelled, completed, control := newOrderID(), newOrderID(), newOrderID()
	due := now.Add(2 * time.Second)
	controlDue := due.Add(time.Second) // a later order that stays open
	h.created(cancelled, due)
	h.created(completed, due)
	h.created(control, controlDue)
	h.handled("order.created")
	for _, id := range []string{cancelled, completed, control} {
		if got := h.taskState(id); got != "scheduled" {
			t.Fatalf("task %s state %q, want scheduled", id, got)
		}
	}

	h.cancelled(cancelled)
	h.completed(completed)
	h.handled("order.cancelled")
	h.handled("order.completed")
	if time.Now().After(due) {
		t.Fatal("the test was too slow: the orders were settled after they were due")
	}
	for _, id := range []string{cancelled, completed} {
		if got := h.taskState(id); got != "none" {
			t.Errorf("task of settled order %s state %q, want deleted", id, got)
		}
	}

	// The control order expires a second after the settled ones were due: by then their
	// tasks would have run.
	testkit.Eventually(t, time.Until(controlDue)+5*time.Second, "control order expired", func() bool {
		return len(h.expired.of(control)) == 1
	})
	checkOnTime(t, h.expired, control, controlDue, maxLate)
	for _, id := range []string{cancelled, completed} {
		if got := len(h.expired.of(id)); got != 0 {
			t.Errorf("settled order %s: %d expiration.completed, want 0", id, got)
		}
	}
	if got := h.expired.total(); got != 1 {
		t.Errorf("%d expiration.completed in all, want 1", got)
	}

	// Settling again, or settling an order never seen, is a success.
	h.cancelled(cancelled)
	h.cancelled(newOrderID())
	h.handled("order.cancelled")
}

func TestExpiryIsRetriedWhileNATSIsDown(t *testing.T) {
	h := start(t, withPublishTimeout(500*time.Millisecond))
	id, expiresAt := newOrderID(), time.Now().Add(1500*time.Millisecond)
	h.created(id, expiresAt)
	h.handled("order.created")

	h.nats.Shutdown()
	h.nats.WaitForShutdown()
	testkit.Eventually(t, time.Until(expiresAt)+10*time.Second, "task failed and waits for a retry", func() bool {
		return h.taskState(id) == "retry"
	})
	if got := len(h.expired.of(id)); got != 0 {
		t.Fatalf("%d expiration.completed while NATS was down", got)
	}
	h.nats.Restart()

	testkit.Eventually(t, 15*time.Second, "expiration.completed after NATS came back", func() bool {
		return len(h.expired.of(id)) > 0 && h.taskState(id) == "completed"
	})
	if got := len(h.expired.of(id)); got != 1 {
		t.Errorf("%d expiration.completed, want 1", got)
	}
	if info := h.queueInfo(); info.FailedTotal < 1 {
		t.Errorf("asynq counted %d failed runs, want at least 1", info.FailedTotal)
	}
}

func TestReadyzReportsDependenciesAndTaskCounts(t *testing.T) {
	h := start(t)
	for range 3 {
		h.created(newOrderID(), time.Now().Add(time.Hour))
	}
	h.handled("order.created")

	var body map[string]any
	testkit.Eventually(t, 5*time.Second, "readyz counts 3 scheduled tasks", func() bool {
		var status int
		status, body = h.readyz()
		tasks, _ := body["details"].(map[string]any)["tasks"].(map[string]any)
		return status == http.StatusOK && tasks["scheduled"] == float64(3)
	})
	checks, _ := body["checks"].(map[string]any)
	if body["status"] != "OK" || checks["redis"] != "ok" || checks["nats"] != "ok" {
		t.Errorf("readyz body %v, want status OK and redis, nats ok", body)
	}
	if v := gauge(t, "ticketing_expiration_tasks", "scheduled"); v != 3 {
		t.Errorf("ticketing_expiration_tasks{state=scheduled} = %v, want 3", v)
	}

	resp, err := http.Get(h.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz %d", resp.StatusCode)
	}

	h.redis.Restart() // an empty Redis, as after a crash: readiness recovers, counts drop
	testkit.Eventually(t, 10*time.Second, "readyz after a Redis restart", func() bool {
		status, body := h.readyz()
		tasks, _ := body["details"].(map[string]any)["tasks"].(map[string]any)
		return status == http.StatusOK && tasks["scheduled"] == float64(0)
	})
}

// gauge is the value of the metric name{state=state} in the default registry.
func gauge(t *testing.T, name, state string) float64 {
	t.Helper()
	v, ok := testkit.Metric(t, name, map[string]string{"state": state})
	if !ok {
		t.Fatalf("metric %s{state=%q} not found", name, state)
	}
	return v
}

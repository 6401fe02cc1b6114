package testkit

import "sync"

// AtOnce runs f(0) … f(n-1) each on its own goroutine, released together once all are
// started, so that they race for real, and returns their results in the order of i.
func AtOnce[T any](n int, f func(i int) T) []T {
	out := make([]T, n)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-gate
			out[i] = f(i)
		})
	}
	close(gate)
	wg.Wait()
	return out
}

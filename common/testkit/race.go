package testkit

import (
	"sync"
	"sync/atomic"
	"testing"
)

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

// Spread shares the b.N operations of a benchmark among workers goroutines, each running
// op(worker, i) for the next i not yet taken; a worker stops when op returns false. It
// resets b's timer as the workers start and returns when they are all done.
func Spread(b *testing.B, workers int, op func(worker, i int) bool) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N || !op(w, i) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// Go twin of bench/sync.c: the sync package, after sync/*_test.go.
// GOMAXPROCS is the default (all CPUs). "RunParallel" below is benchParallel(n,
// grain, body): GOMAXPROCS workers sharing n iterations, claimed `grain` at
// a time (the second argument; C passes the same to bench_parallel).
package main

import "sync"

// sync/mutex_uncontended follows BenchmarkMutexUncontended: RunParallel;
// each worker has its own mutex padded with 128 bytes (no false sharing).
// Per op: Lock + Unlock of the worker's own mutex.
func mutexUncontended(n int) {
	type paddedMutex struct {
		sync.Mutex
		pad [128]uint8
	}
	benchParallel(n, 10000, func(pb *benchPB) {
		var mu paddedMutex
		for pb.Next() {
			mu.Lock()
			mu.Unlock()
		}
	})
}

// sync/mutex follows BenchmarkMutex (no slack, no work): RunParallel, one
// shared mutex; per op: Lock + Unlock.
func mutexContended(n int) {
	var mu sync.Mutex
	benchParallel(n, 5000, func(pb *benchPB) {
		for pb.Next() {
			mu.Lock()
			mu.Unlock()
		}
	})
}

// sync/rwmutex_write100 follows BenchmarkRWMutexWrite100 (localWork 0,
// writeRatio 100): RunParallel, one shared RWMutex; each worker counts its
// ops from 1: every 100th is Lock + Unlock, the others RLock + RUnlock.
func rwmutexWrite100(n int) {
	var rwm sync.RWMutex
	benchParallel(n, 5000, func(pb *benchPB) {
		foo := 0
		for pb.Next() {
			foo++
			if foo%100 == 0 {
				rwm.Lock()
				rwm.Unlock()
			} else {
				rwm.RLock()
				rwm.RUnlock()
			}
		}
	})
}

// sync/waitgroup_adddone follows BenchmarkWaitGroupAddDone (localWork 0):
// RunParallel, one shared WaitGroup; per op: Add(1) + Done() (the counter
// returns to 0 often, with no waiter).
func waitGroupAddDone(n int) {
	var wg sync.WaitGroup
	benchParallel(n, 5000, func(pb *benchPB) {
		for pb.Next() {
			wg.Add(1)
			wg.Done()
		}
	})
}

// sync/cond32 follows BenchmarkCond32: one Cond on a Mutex, an int id; 33
// goroutines (waiters+1) each loop n times: Lock; if id == -1 { Unlock;
// break }; id++; if id == 33 { id = 0; Broadcast } else { Wait }; Unlock.
// When its loop ends a goroutine does Lock; id = -1; Broadcast; Unlock and
// signals a done channel; main waits for 33. Per op: one "round" in which
// each of the 33 goroutines takes the lock once and 32 of them wait and
// are woken by one Broadcast.
func cond(n, waiters int) {
	c := sync.NewCond(&sync.Mutex{})
	done := make(chan bool)
	id := 0
	for routine := 0; routine < waiters+1; routine++ {
		go func() {
			for i := 0; i < n; i++ {
				c.L.Lock()
				if id == -1 {
					c.L.Unlock()
					break
				}
				id++
				if id == waiters+1 {
					id = 0
					c.Broadcast()
				} else {
					c.Wait()
				}
				c.L.Unlock()
			}
			c.L.Lock()
			id = -1
			c.Broadcast()
			c.L.Unlock()
			done <- true
		}()
	}
	for routine := 0; routine < waiters+1; routine++ {
		<-done
	}
}

// sync/once follows BenchmarkOnce: RunParallel, one shared Once; per op:
// once.Do(f) with f empty (after the first call: the fast path, an
// acquire load of the done flag).
func once(n int) {
	var o sync.Once
	f := func() {}
	benchParallel(n, 10000, func(pb *benchPB) {
		for pb.Next() {
			o.Do(f)
		}
	})
}

func main() {
	benchRun("sync/mutex_uncontended", benchN(50000000, 5000000), mutexUncontended)
	benchRun("sync/mutex", benchN(20000000, 2000000), mutexContended)
	benchRun("sync/rwmutex_write100", benchN(20000000, 2000000), rwmutexWrite100)
	benchRun("sync/waitgroup_adddone", benchN(20000000, 2000000), waitGroupAddDone)
	benchRun("sync/cond32", benchN(100000, 10000), func(n int) { cond(n, 32) })
	benchRun("sync/once", benchN(200000000, 20000000), once)
}

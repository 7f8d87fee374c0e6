// Go twin of bench/sync.c: the sync package, after sync/*_test.go.
// GOMAXPROCS is the default (all CPUs). "RunParallel" below is benchParallel(n,
// grain, body): GOMAXPROCS workers sharing n iterations, claimed `grain` at
// a time (the second argument; C passes the same to bench_parallel).
package main

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
)

// workSink: where the workers of the *_work rows leave their foo (one
// atomic add per worker per run). Go's own BenchmarkMutexWork ends with
// `_ = foo`, and Go 1.19 then drops the arithmetic and keeps an empty
// 100-iteration loop; the sink keeps the work real here and in C
// (bench_local_work in bench/bench.h).
var workSink int64

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

// sync/mutex_slack follows BenchmarkMutexSlack: sync/mutex with
// b.SetParallelism(10): 10 x GOMAXPROCS workers on one shared mutex
// (grain 1000); per op: Lock + Unlock.
func mutexSlack(n int) {
	var mu sync.Mutex
	benchParallelP(n, 1000, 10, func(pb *benchPB) {
		for pb.Next() {
			mu.Lock()
			mu.Unlock()
		}
	})
}

// sync/mutex_work follows BenchmarkMutexWork: RunParallel (grain 1000),
// one shared mutex; per op: Lock + Unlock, then 100 x { foo *= 2; foo /= 2 }
// outside the lock on a foo of the worker's own, added to workSink at the
// end (see workSink).
func mutexWork(n int) {
	var mu sync.Mutex
	benchParallel(n, 1000, func(pb *benchPB) {
		foo := 0
		for pb.Next() {
			mu.Lock()
			mu.Unlock()
			for i := 0; i < 100; i++ {
				foo *= 2
				foo /= 2
			}
		}
		atomic.AddInt64(&workSink, int64(foo))
	})
}

// sync/mutex_spin follows BenchmarkMutexSpin: RunParallel (grain 100), one
// shared mutex guarding acc0 and acc1; each worker has its own zeroed
// [16 << 10]uint64 (128 KiB; C: calloc'd). Per op: Lock; acc0 -= 100;
// acc1 += 100; Unlock; then data[i]++ for every 4th of the 16384 words
// (4096 increments, 32-byte stride).
func mutexSpin(n int) {
	var m sync.Mutex
	var acc0, acc1 uint64
	benchParallel(n, 100, func(pb *benchPB) {
		var data [16 << 10]uint64
		for pb.Next() {
			m.Lock()
			acc0 -= 100
			acc1 += 100
			m.Unlock()
			for i := 0; i < len(data); i += 4 {
				data[i]++
			}
		}
	})
}

// sync/rwmutex_uncontended follows BenchmarkRWMutexUncontended:
// RunParallel (grain 4000); each worker has its own RWMutex padded with
// 32 uint32. Per op: RLock, RLock, RUnlock, RUnlock, Lock, Unlock.
func rwmutexUncontended(n int) {
	type paddedRWMutex struct {
		sync.RWMutex
		pad [32]uint32
	}
	benchParallel(n, 4000, func(pb *benchPB) {
		var rwm paddedRWMutex
		for pb.Next() {
			rwm.RLock()
			rwm.RLock()
			rwm.RUnlock()
			rwm.RUnlock()
			rwm.Lock()
			rwm.Unlock()
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

// sync/rwmutex_work follows BenchmarkRWMutexWorkWrite100 (localWork 100,
// writeRatio 100): sync/rwmutex_write100 (grain 1000) with 100 x { foo *=
// 2; foo /= 2 } on the op counter foo inside each RLock (foo is used by the
// next foo%100, so the work is kept; x*2/2 leaves it unchanged).
func rwmutexWork(n int) {
	var rwm sync.RWMutex
	benchParallel(n, 1000, func(pb *benchPB) {
		foo := 0
		for pb.Next() {
			foo++
			if foo%100 == 0 {
				rwm.Lock()
				rwm.Unlock()
			} else {
				rwm.RLock()
				for i := 0; i != 100; i += 1 {
					foo *= 2
					foo /= 2
				}
				rwm.RUnlock()
			}
		}
		_ = foo
	})
}

// sync/waitgroup_uncontended follows BenchmarkWaitGroupUncontended:
// RunParallel (grain 10000); each worker has its own WaitGroup padded with
// 128 bytes. Per op: Add(1), Done(), Wait() (the counter is 0: returns).
func waitGroupUncontended(n int) {
	type paddedWaitGroup struct {
		sync.WaitGroup
		pad [128]uint8
	}
	benchParallel(n, 10000, func(pb *benchPB) {
		var wg paddedWaitGroup
		for pb.Next() {
			wg.Add(1)
			wg.Done()
			wg.Wait()
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

// sync/waitgroup_wait follows BenchmarkWaitGroupWait (localWork 0):
// RunParallel (grain 10000), one shared WaitGroup whose counter is 0; per
// op: Wait() (returns at once).
func waitGroupWait(n int) {
	var wg sync.WaitGroup
	benchParallel(n, 10000, func(pb *benchPB) {
		for pb.Next() {
			wg.Wait()
		}
	})
}

// sync/cond1 and sync/cond16 follow BenchmarkCond1 and BenchmarkCond16:
// cond(n, 1) and cond(n, 16), as sync/cond32 below with 2 and 17
// goroutines (1 and 16 waiters per round).
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

// weighted is a weighted semaphore written here after the algorithm of
// golang.org/x/sync/semaphore.Weighted (not available offline), which is
// also csp_sema's: size, cur and a FIFO of waiters under a sync.Mutex.
// Acquire takes the tokens at once when they fit and nobody waits (no
// barging past the queue); otherwise it queues a waiter with its own
// `ready` channel and waits on ready and ctx.Done(). Release returns
// tokens, then grants them strictly in FIFO order, closing each granted
// waiter's ready, stopping at the first waiter that does not fit.
type weighted struct {
	size, cur int64
	mu        sync.Mutex
	waiters   list.List // of semWaiter
}

type semWaiter struct {
	n     int64
	ready chan struct{}
}

func newWeighted(n int64) *weighted { return &weighted{size: n} }

func (s *weighted) Acquire(ctx context.Context, n int64) error {
	done := ctx.Done()
	s.mu.Lock()
	if s.size-s.cur >= n && s.waiters.Len() == 0 {
		s.cur += n
		s.mu.Unlock()
		return nil
	}
	if n > s.size { // never satisfiable: wait for ctx only
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
	ready := make(chan struct{})
	e := s.waiters.PushBack(semWaiter{n, ready})
	s.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-done:
		s.mu.Lock()
		select {
		case <-ready: // granted just as ctx ended: give the tokens back
			s.cur -= n
			s.notify()
		default:
			front := s.waiters.Front() == e
			s.waiters.Remove(e)
			if front && s.size > s.cur {
				s.notify()
			}
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

func (s *weighted) Release(n int64) {
	s.mu.Lock()
	s.cur -= n
	if s.cur < 0 {
		s.mu.Unlock()
		panic("semaphore: released more than held")
	}
	s.notify()
	s.mu.Unlock()
}

func (s *weighted) notify() { // s.mu held
	for {
		e := s.waiters.Front()
		if e == nil {
			return
		}
		w := e.Value.(semWaiter)
		if s.size-s.cur < w.n {
			return // no barging past the head
		}
		s.cur += w.n
		s.waiters.Remove(e)
		close(w.ready)
	}
}

// sync/sema (ours; x/sync has no parallel benchmark): RunParallel (grain
// 400) over ONE weighted semaphore of capacity 1, i.e. used as a lock, so
// that with GOMAXPROCS workers the others wait in its FIFO (the part of the
// algorithm that is more than a mutex; with capacity GOMAXPROCS nobody
// would ever wait, and chan/sem already measures that case with a
// channel). Per op: Acquire(context.Background(), 1) + Release(1). C:
// csp_sema_acquire(s, 1, NULL) + csp_sema_release(s, 1).
func sema(n int) {
	s := newWeighted(1)
	ctx := context.Background()
	benchParallel(n, 400, func(pb *benchPB) {
		for pb.Next() {
			if err := s.Acquire(ctx, 1); err != nil {
				panic(err)
			}
			s.Release(1)
		}
	})
}

func main() {
	benchRun("sync/mutex_uncontended", benchN(50000000, 5000000), mutexUncontended)
	benchRun("sync/mutex", benchN(20000000, 2000000), mutexContended)
	benchRun("sync/mutex_slack", benchN(10000000, 1000000), mutexSlack)
	benchRun("sync/mutex_work", benchN(3000000, 300000), mutexWork)
	benchRun("sync/mutex_spin", benchN(300000, 30000), mutexSpin)
	benchRun("sync/rwmutex_uncontended", benchN(10000000, 1000000), rwmutexUncontended)
	benchRun("sync/rwmutex_write100", benchN(20000000, 2000000), rwmutexWrite100)
	benchRun("sync/rwmutex_work", benchN(3000000, 300000), rwmutexWork)
	benchRun("sync/waitgroup_uncontended", benchN(30000000, 3000000), waitGroupUncontended)
	benchRun("sync/waitgroup_adddone", benchN(20000000, 2000000), waitGroupAddDone)
	benchRun("sync/waitgroup_wait", benchN(300000000, 30000000), waitGroupWait)
	benchRun("sync/cond1", benchN(3000000, 300000), func(n int) { cond(n, 1) })
	benchRun("sync/cond16", benchN(200000, 20000), func(n int) { cond(n, 16) })
	benchRun("sync/cond32", benchN(100000, 10000), func(n int) { cond(n, 32) })
	benchRun("sync/once", benchN(200000000, 20000000), once)
	benchRun("sync/sema", benchN(2000000, 200000), sema)
}

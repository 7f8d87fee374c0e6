// Go twin of bench/timers.c: the clock, sleeping and timers, after
// time/sleep_test.go and time/tick_test.go. GOMAXPROCS is the default.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// time/now (ours, after BenchmarkNow, whose op t = Now() also reads the
// wall clock): per op one read of the monotonic clock, time.Since(t0) with
// t0 from time.Now(); in Go 1.19 Since reads only runtime.nanotime (the
// monotonic clock, through the vDSO) and subtracts. C: csp_now() - t0
// (CLOCK_MONOTONIC, through the vDSO).
func now(n int) {
	t0 := time.Now()
	var acc time.Duration
	for i := 0; i < n; i++ {
		acc += time.Since(t0)
	}
	sinkDur += acc
}

var sinkDur time.Duration

// time/sleep_100k_idle: 100,000 goroutines (in quick mode too: the point
// is the number) each do started.Done(); <-gate; asleep.Add(1);
// time.Sleep(1 s); finished.Done(). Main waits for started (all spawned and
// parked on the gate), closes the gate at instant g, polls (sleeping 1 ms)
// until asleep == 100,000, sleeps 20 ms more to let the last ones park,
// then measures the process's CPU time (getrusage RUSAGE_SELF, user +
// system, all threads) over the idle window from then until g + 950 ms,
// sleeping itself meanwhile. Reports CPU time / wall time of the window *
// 100, in %cpu (100 = one core busy). Then waits for all to wake and exit
// (untimed). Comment lines give the window and flag one under 500 ms.
func sleepIdle(n int) {
	var started, finished sync.WaitGroup
	var asleep int32
	gate := make(chan struct{})
	started.Add(n)
	finished.Add(n)
	runtime.GC()
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-gate
			atomic.AddInt32(&asleep, 1)
			time.Sleep(time.Second)
			finished.Done()
		}()
	}
	started.Wait()
	g := time.Now()
	close(gate)
	for atomic.LoadInt32(&asleep) < int32(n) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	c0, w0 := cpuTime(), time.Now()
	if d := time.Until(g.Add(950 * time.Millisecond)); d > 0 {
		time.Sleep(d)
	}
	c1, w1 := cpuTime(), time.Now()
	fmt.Printf("# time/sleep_100k_idle: window %v, cpu %v\n", w1.Sub(w0), c1-c0)
	if w1.Sub(w0) < 500*time.Millisecond {
		fmt.Printf("# time/sleep_100k_idle: idle window only %v\n", w1.Sub(w0))
	}
	if benchWant("time/sleep_100k_idle") {
		benchReport("time/sleep_100k_idle", float64(c1-c0)/float64(w1.Sub(w0))*100, "%cpu")
	}
	finished.Wait()
}

// cpuTime: user + system CPU time of the whole process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timerBench is time's benchmark(): before timing, each of GOMAXPROCS
// goroutines creates 1<<15 "garbage" timers, AfterFunc(1 hour, nil), so the
// timer heaps are not empty (stopped after the timed part). Then
// RunParallel with n/1000 ops, each op bench(1000). The row reports ns per
// ONE of the 1000 (total time / n), not per bench(1000) call.
func timerBench(n int, bench func(k int)) {
	procs := runtime.GOMAXPROCS(0)
	garbageAll := make([][]*time.Timer, procs)
	var wg sync.WaitGroup
	for i := range garbageAll {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			garbage := make([]*time.Timer, 1<<15)
			for j := range garbage {
				garbage[j] = time.AfterFunc(time.Hour, nil)
			}
			garbageAll[i] = garbage
		}(i)
	}
	wg.Wait()
	t0 := time.Now()
	benchParallel(n/1000, 1, func(pb *benchPB) {
		for pb.Next() {
			bench(1000)
		}
	})
	dt := time.Since(t0)
	for _, garbage := range garbageAll {
		for _, t := range garbage {
			t.Stop()
		}
	}
	timerDt = dt
}

var timerDt time.Duration

// benchRunTimer: benchRun for timerBench rows (times only the parallel part,
// the garbage timers' setup is not timed).
func benchRunTimer(row string, n int, bench func(k int)) {
	if !benchWant(row) {
		return
	}
	runtime.GC()
	timerBench(n/10, bench)
	runtime.GC()
	timerBench(n, bench)
	benchReport(row, float64(timerDt.Nanoseconds())/float64(n), "ns/op")
}

// time/after_func follows BenchmarkStartStop: per bench(1000): 1000 x
// AfterFunc(1 hour, f) into an array, then Stop each of them (they never
// fire). Per op: one AfterFunc + one Stop (C: csp_after_func,
// csp_timer_stop, csp_timer_release).
func startStop(k int) {
	timers := make([]*time.Timer, k)
	for i := 0; i < k; i++ {
		timers[i] = time.AfterFunc(time.Hour, nil)
	}
	for i := 0; i < k; i++ {
		timers[i].Stop()
	}
}

// time/ticker_reset follows BenchmarkTickerReset: per bench(1000): ticker
// := NewTicker(1 ns); 1000 x ticker.Reset(2 ns); ticker.Stop(). Per op: one
// Reset (creation and Stop amortised over 1000); the ticker keeps firing
// into its channel of capacity 1 (dropping ticks), nobody receives.
func tickerReset(k int) {
	ticker := time.NewTicker(time.Nanosecond)
	for i := 0; i < k; i++ {
		ticker.Reset(2 * time.Nanosecond)
	}
	ticker.Stop()
}

// time/sleep follows BenchmarkSleep: per bench(1000): wg.Add(1000); 1000 x
// go { Sleep(1 ns); wg.Done() }; wg.Wait(). Per op: one goroutine created,
// put to sleep on a timer, woken by it, and ended (C: csp_go,
// csp_sleep(1), csp_wg_done).
func sleepGoroutines(k int) {
	var wg sync.WaitGroup
	wg.Add(k)
	for i := 0; i < k; i++ {
		go func() {
			time.Sleep(time.Nanosecond)
			wg.Done()
		}()
	}
	wg.Wait()
}

// time/ticker follows BenchmarkTicker: per bench(1000): ticker :=
// NewTicker(1 ns); 1000 x <-ticker.C; ticker.Stop(). Per op: one tick
// received, the receiver parking until the ticker's timer fires (C:
// csp_ticker_new(1), csp_recv, csp_ticker_stop, csp_ticker_release).
func tickerRecv(k int) {
	ticker := time.NewTicker(time.Nanosecond)
	for i := 0; i < k; i++ {
		<-ticker.C
	}
	ticker.Stop()
}

// time/after_func_fire follows BenchmarkAfterFunc: per bench(1000): c :=
// make(chan bool); a chain of 1001 AfterFunc(0, f) where each f does n--,
// then AfterFunc(0, f) again while n >= 0, else c <- true; the caller
// waits on <-c. Per op: one AfterFunc created, fired, and its func run in
// a goroutine of its own, strictly one after the other. C: f keeps the
// csp_timer of each link in an array (Go: garbage) and bench(1000)
// releases the 1001 timers after <-c, inside the timed part.
//
// time/after_func_fire_1ns: the same chain with AfterFunc(1ns).
var chainDelay time.Duration

func afterFuncFire(k int) {
	n := k
	c := make(chan bool)
	var f func()
	f = func() {
		n--
		if n >= 0 {
			time.AfterFunc(chainDelay, f)
		} else {
			c <- true
		}
	}
	time.AfterFunc(chainDelay, f)
	<-c
}

func main() {
	benchRun("time/now", benchN(10000000, 1000000), now)
	if benchWant("time/sleep_100k_idle") {
		sleepIdle(100000)
	}
	benchRunTimer("time/after_func", benchN(2000000, 200000), startStop)
	benchRunTimer("time/after_func_fire", benchN(500000, 50000), afterFuncFire)
	chainDelay = time.Nanosecond
	benchRunTimer("time/after_func_fire_1ns", benchN(500000, 50000), afterFuncFire)
	benchRunTimer("time/sleep", benchN(500000, 50000), sleepGoroutines)
	benchRunTimer("time/ticker", benchN(500000, 50000), tickerRecv)
	benchRunTimer("time/ticker_reset", benchN(2000000, 200000), tickerReset)
}

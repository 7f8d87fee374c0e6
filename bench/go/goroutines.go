// Go twin of bench/goroutines.c: creating, scheduling and parking goroutines.
// GOMAXPROCS is the default (all CPUs) unless a row says otherwise.
package main

import (
	"runtime"
	"sync"
	"time"
)

// go/create follows runtime.BenchmarkCreateGoroutines (procs = 1): a
// goroutine that spawns the next, n in total, one at a time; the last one
// sends on an unbuffered channel the main goroutine waits on.
// Per op: one goroutine created, run, and exited (f(k) does `go f(k-1)`).
// go/create_parallel follows CreateGoroutinesParallel: GOMAXPROCS such
// chains of n/GOMAXPROCS each, started by main; main waits for all of them.
func createGoroutines(n, procs int) {
	c := make(chan bool)
	var f func(k int)
	f = func(k int) {
		if k == 0 {
			c <- true
			return
		}
		go f(k - 1)
	}
	for i := 0; i < procs; i++ {
		go f(n / procs)
	}
	for i := 0; i < procs; i++ {
		<-c
	}
}

// go/spawn_wait (our workload, close to CreateGoroutinesSingle): main does,
// per op, wg.Add(1); go func() { wg.Done() }(); and one wg.Wait() after
// all n: the cost of create + Done + Wait per goroutine, all spawned by one
// goroutine while the other processors steal and run them.
func spawnWait(n int) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			wg.Done()
		}()
	}
	wg.Wait()
}

// go/pingpong_hog follows runtime.BenchmarkPingPongHog, with GOMAXPROCS=1:
// a CPU hog spins on select { case <-stop: ...; default: }, while two
// goroutines ping-pong a bool over two unbuffered channels (one does
// `pong <- <-ping`, the other `ping <- <-pong`, n times each; main starts
// it with one `ping <- true` and waits for stop).
// Per op: one round trip (two unbuffered hand-offs) sharing one P with the
// hog; a hand-off must keep running the partner, not the hog. Timed as in
// the model (b.ResetTimer ... b.StopTimer): from `ping <- true` until
// `<-stop` returns; the GOMAXPROCS switch, the three spawns, the last
// `<-ping` and the three `<-done` are not timed (benchRunPart).
func pingPongHog(n int) time.Duration {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	stop, done := make(chan bool), make(chan bool)
	go func() {
		for {
			select {
			case <-stop:
				done <- true
				return
			default:
			}
		}
	}()
	ping, pong := make(chan bool), make(chan bool)
	go func() {
		for j := 0; j < n; j++ {
			pong <- <-ping
		}
		close(stop)
		done <- true
	}()
	go func() {
		for i := 0; i < n; i++ {
			ping <- <-pong
		}
		done <- true
	}()
	t0 := time.Now()
	ping <- true
	<-stop
	dt := time.Since(t0)
	<-ping
	<-done
	<-done
	<-done
	return dt
}

// go/daisy_100k: a daisy chain ("whispers", Go's test/chan/goroutines.go
// style): n goroutines, each `left <- 1 + <-right` on unbuffered channels;
// main builds the chain (make a channel, go whisper, n times), a last
// goroutine sends 1 into the rightmost channel, main receives n+1 from the
// leftmost. Per op: one goroutine created, one channel made, one value
// received and passed on. n = 100,000 (quick 10,000).
func whisper(left, right chan int) {
	left <- 1 + <-right
}

func daisy(n int) {
	leftmost := make(chan int)
	left, right := leftmost, leftmost
	for i := 0; i < n; i++ {
		right = make(chan int)
		go whisper(left, right)
		left = right
	}
	go func(c chan int) { c <- 1 }(right)
	if v := <-leftmost; v != n+1 {
		panic("daisy chain lost a whisper")
	}
}

// go/park_1m: n = 200,000 goroutines (quick 100,000; the name is historical:
// 1,000,000 made a full run exceed its 10 minutes), each
// `started.Done(); <-ch` on one unbuffered channel nobody sends on. Timed
// from the first spawn until started.Wait() returns in main: ns per
// spawn + park. go/park_1m_rss: RSS growth (/proc/self/statm, after a GC
// before spawning, read when all have started) / n, in KB (KiB) per parked
// goroutine. Then close(ch) and wait for all to exit (untimed). No warm-up.
func park(n int) {
	ch := make(chan struct{})
	var started, finished sync.WaitGroup
	started.Add(n)
	finished.Add(n)
	runtime.GC()
	rss0 := benchRSSKB()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-ch
			finished.Done()
		}()
	}
	started.Wait()
	dt := time.Since(t0)
	rss1 := benchRSSKB()
	if benchWant("go/park_1m") {
		benchReport("go/park_1m", float64(dt.Nanoseconds())/float64(n), "ns/op")
	}
	if benchWant("go/park_1m_rss") {
		benchReport("go/park_1m_rss", (rss1-rss0)/float64(n), "KB/goroutine")
	}
	close(ch)
	finished.Wait()
}

func main() {
	benchRun("go/create", benchN(2000000, 200000), func(n int) { createGoroutines(n, 1) })
	benchRun("go/create_parallel", benchN(2000000, 200000), func(n int) {
		createGoroutines(n, runtime.GOMAXPROCS(0))
	})
	benchRun("go/spawn_wait", benchN(2000000, 200000), spawnWait)
	benchRunPart("go/pingpong_hog", benchN(500000, 50000), pingPongHog)
	benchRun("go/daisy_100k", benchN(100000, 10000), daisy)
	if benchWant("go/park_1m") || benchWant("go/park_1m_rss") {
		park(benchN(200000, 100000))
	}
}

// Go twin of bench/select.c: select, after runtime/chan_test.go.
// GOMAXPROCS is the default (all CPUs). "RunParallel" below is benchParallel(n,
// grain, body): GOMAXPROCS workers sharing n iterations, claimed `grain` at
// a time (the second argument; C passes the same to bench_parallel).
package main

import (
	"runtime"
	"sync/atomic"
	"time"
)

// select/uncontended follows BenchmarkSelectUncontended: RunParallel; each
// worker has two chan int of capacity 1, the first holding one value. Per
// op: select { case <-myc1: myc2 <- 0; case <-myc2: myc1 <- 0 } (exactly
// one case is ready: a 2-case select that receives, plus one buffered send).
func selectUncontended(n int) {
	benchParallel(n, 1000, func(pb *benchPB) {
		myc1 := make(chan int, 1)
		myc2 := make(chan int, 1)
		myc1 <- 0
		for pb.Next() {
			select {
			case <-myc1:
				myc2 <- 0
			case <-myc2:
				myc1 <- 0
			}
		}
	})
}

// select/sync_contended follows BenchmarkSelectSyncContended: three shared
// unbuffered chan int and a done channel. RunParallel; each worker first
// starts a helper goroutine looping on select { case myc1 <- 0: case
// myc2 <- 0: case myc3 <- 0: case <-done: return }, then per op does
// select { case <-myc1: case <-myc2: case <-myc3: } (usually blocks: a
// synchronous hand-off between two selects, with GOMAXPROCS such pairs on
// the same three channels). After the workers end, close(done) (timed).
func selectSyncContended(n int) {
	myc1 := make(chan int)
	myc2 := make(chan int)
	myc3 := make(chan int)
	done := make(chan int)
	benchParallel(n, 100, func(pb *benchPB) {
		go func() {
			for {
				select {
				case myc1 <- 0:
				case myc2 <- 0:
				case myc3 <- 0:
				case <-done:
					return
				}
			}
		}()
		for pb.Next() {
			select {
			case <-myc1:
			case <-myc2:
			case <-myc3:
			}
		}
	})
	close(done)
}

// select/async_contended follows BenchmarkSelectAsyncContended: two SHARED
// chan int of capacity GOMAXPROCS; RunParallel; each worker first puts one
// value into myc1, then per op: select { case <-myc1: myc2 <- 0; case
// <-myc2: myc1 <- 0 } (never blocks for long: buffered, contended locks).
func selectAsyncContended(n int) {
	procs := runtime.GOMAXPROCS(0)
	myc1 := make(chan int, procs)
	myc2 := make(chan int, procs)
	benchParallel(n, 500, func(pb *benchPB) {
		myc1 <- 0
		for pb.Next() {
			select {
			case <-myc1:
				myc2 <- 0
			case <-myc2:
				myc1 <- 0
			}
		}
	})
}

// select/nonblock follows BenchmarkSelectNonblock: RunParallel over four
// shared channels, all empty at the start: myc1, myc2 unbuffered, myc3,
// myc4 of capacity 1; nobody receives or sends on them otherwise. Per op,
// four 1-case selects with default: recv myc1, send myc2, recv myc3, send
// myc4. Only the very first send on myc4 succeeds (it is full after that);
// every other one takes the default. In C: csp_try_recv, csp_try_send,
// csp_try_recv, csp_try_send.
func selectNonblock(n int) {
	myc1 := make(chan int)
	myc2 := make(chan int)
	myc3 := make(chan int, 1)
	myc4 := make(chan int, 1)
	benchParallel(n, 10000, func(pb *benchPB) {
		for pb.Next() {
			select {
			case <-myc1:
			default:
			}
			select {
			case myc2 <- 0:
			default:
			}
			select {
			case <-myc3:
			default:
			}
			select {
			case myc4 <- 0:
			default:
			}
		}
	})
}

// select/2case (ours): one goroutine; a chan int of capacity 1 and an
// unbuffered chan int nobody sends on. Per op: one buffered send into the
// first (the refill), then select { case <-ready: case <-never: } (the
// first case is always the one taken; the select must still look at
// both). In C: csp_send + csp_select of 2 CSP_RECV cases, CSP_FOREVER.
func select2Case(n int) {
	ready := make(chan int, 1)
	never := make(chan int)
	got := 0
	for i := 0; i < n; i++ {
		ready <- i
		select {
		case v := <-ready:
			got += v & 1
		case <-never:
			panic("select/2case: impossible case")
		}
	}
	sink += got
}

var sink int

// select/prodcons follows BenchmarkSelectProdCons: as chan/prodcons_work
// (channels.go) on a chan int of capacity 128: GOMAXPROCS producers and
// consumers, blocks of 1000 claimed from n/1000, 100 steps of local work
// (foo *= 2; foo /= 2) per message on each side, foo == 42 sent on c at the
// end; but every send and receive on myc is a 3-case select beside the
// goroutine's own time.After(time.Hour) (made at its start, never fires;
// C: csp_after) and a shared unbuffered myclose nobody closes. Producer:
// work, then select { case myc <- 1: case <-mytimer: case <-myclose: };
// consumer: select { case v := <-myc: (0: stop) case <-mytimer: case
// <-myclose: }, then work. A producer ends with a plain myc <- 0. Per op:
// one select-send and its select-receive, and 100 steps of work on each
// side.
func selectProdCons(n int) {
	const callsPerSched = 1000
	procs := runtime.GOMAXPROCS(-1)
	N := int32(n / callsPerSched)
	c := make(chan bool, 2*procs)
	myc := make(chan int, 128)
	myclose := make(chan bool)
	for p := 0; p < procs; p++ {
		go func() {
			foo := 0
			mytimer := time.After(time.Hour)
			for atomic.AddInt32(&N, -1) >= 0 {
				for g := 0; g < callsPerSched; g++ {
					for i := 0; i < 100; i++ {
						foo *= 2
						foo /= 2
					}
					select {
					case myc <- 1:
					case <-mytimer:
					case <-myclose:
					}
				}
			}
			myc <- 0
			c <- foo == 42
		}()
		go func() {
			foo := 0
			mytimer := time.After(time.Hour)
		loop:
			for {
				select {
				case v := <-myc:
					if v == 0 {
						break loop
					}
				case <-mytimer:
				case <-myclose:
				}
				for i := 0; i < 100; i++ {
					foo *= 2
					foo /= 2
				}
			}
			c <- foo == 42
		}()
	}
	for p := 0; p < procs; p++ {
		<-c
		<-c
	}
}

func main() {
	benchRun("select/uncontended", benchN(10000000, 1000000), selectUncontended)
	benchRun("select/sync_contended", benchN(500000, 50000), selectSyncContended)
	benchRun("select/async_contended", benchN(3000000, 300000), selectAsyncContended)
	benchRun("select/nonblock", benchN(50000000, 5000000), selectNonblock)
	benchRun("select/2case", benchN(10000000, 1000000), select2Case)
	benchRun("select/prodcons", benchN(1000000, 100000), selectProdCons)
}

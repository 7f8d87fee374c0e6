// Go twin of bench/channels.c: channel send/receive, after runtime/chan_test.go.
// GOMAXPROCS is the default (all CPUs). "RunParallel" below is benchParallel(n,
// grain, body): GOMAXPROCS workers sharing n iterations, claimed `grain` at
// a time (the second argument; C passes the same to bench_parallel).
package main

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// chan/sync follows BenchmarkChanSync (work 0): procs = 2 goroutines (fixed,
// whatever GOMAXPROCS is), one unbuffered channel; they claim blocks of
// 1000 from a shared atomic counter of n/1000/2*2 blocks; in a block with
// an even index i a goroutine does 1000 x { <-myc; myc <- 0 }, with an odd
// one 1000 x { myc <- 0; <-myc }. Each signals a buffered done channel.
// Per op (n in total): one send and one receive by each of the two.
func chanSync(n int) {
	const callsPerSched = 1000
	procs := 2
	N := int32(n / callsPerSched / procs * procs)
	c := make(chan bool, procs)
	myc := make(chan int)
	for p := 0; p < procs; p++ {
		go func() {
			for {
				i := atomic.AddInt32(&N, -1)
				if i < 0 {
					break
				}
				for g := 0; g < callsPerSched; g++ {
					if i%2 == 0 {
						<-myc
						myc <- 0
					} else {
						myc <- 0
						<-myc
					}
				}
			}
			c <- true
		}()
	}
	for p := 0; p < procs; p++ {
		<-c
	}
}

// chan/prodcons/{0,10,100} follow BenchmarkChanProdCons{0,10,100} without
// local work: one channel of that capacity; GOMAXPROCS producers and
// GOMAXPROCS consumers. Producers claim blocks of 1000 sends of `1` from a
// shared counter of n/1000 blocks, then each sends one `0`; a consumer
// receives until it gets a 0. All report on a done channel of cap 2*procs.
// Per op: one send and its receive.
func chanProdCons(n, chanSize int) {
	const callsPerSched = 1000
	procs := runtime.GOMAXPROCS(-1)
	N := int32(n / callsPerSched)
	c := make(chan bool, 2*procs)
	myc := make(chan int, chanSize)
	for p := 0; p < procs; p++ {
		go func() {
			for atomic.AddInt32(&N, -1) >= 0 {
				for g := 0; g < callsPerSched; g++ {
					myc <- 1
				}
			}
			myc <- 0
			c <- true
		}()
		go func() {
			for {
				if v := <-myc; v == 0 {
					break
				}
			}
			c <- true
		}()
	}
	for p := 0; p < procs; p++ {
		<-c
		<-c
	}
}

// chan/prodcons_work/{0,10,100} follow BenchmarkChanProdConsWork{0,10,100}
// (benchmarkChanProdCons with localWork 100): chan/prodcons/N plus local
// work in every goroutine: a producer runs 100 x { foo *= 2; foo /= 2 }
// before each send of 1, a consumer after each receive of a non-zero value;
// each keeps its own foo and finally sends foo == 42 on c (which keeps the
// arithmetic alive: Go 1.19 compiles it as SHL, SHR, LEA, SAR on a
// register; C's local_work emits the same). Per op: one send and its
// receive, and 100 steps of work on each side.
func chanProdConsWork(n, chanSize int) {
	const callsPerSched = 1000
	const localWork = 100
	procs := runtime.GOMAXPROCS(-1)
	N := int32(n / callsPerSched)
	c := make(chan bool, 2*procs)
	myc := make(chan int, chanSize)
	for p := 0; p < procs; p++ {
		go func() {
			foo := 0
			for atomic.AddInt32(&N, -1) >= 0 {
				for g := 0; g < callsPerSched; g++ {
					for i := 0; i < localWork; i++ {
						foo *= 2
						foo /= 2
					}
					myc <- 1
				}
			}
			myc <- 0
			c <- foo == 42
		}()
		go func() {
			foo := 0
			for {
				v := <-myc
				if v == 0 {
					break
				}
				for i := 0; i < localWork; i++ {
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

// chan/uncontended follows BenchmarkChanUncontended: RunParallel; each
// worker makes its own chan int of capacity 100. Per op: 100 sends then
// 100 receives on the worker's own channel (never blocks).
// chan/contended follows BenchmarkChanContended: the same on ONE channel
// of capacity 100*GOMAXPROCS shared by all workers (never blocks either).
func chanUncontended(n int) {
	const C = 100
	benchParallel(n, 50, func(pb *benchPB) {
		myc := make(chan int, C)
		for pb.Next() {
			for i := 0; i < C; i++ {
				myc <- 0
			}
			for i := 0; i < C; i++ {
				<-myc
			}
		}
	})
}

func chanContended(n int) {
	const C = 100
	myc := make(chan int, C*runtime.GOMAXPROCS(0))
	benchParallel(n, 10, func(pb *benchPB) {
		for pb.Next() {
			for i := 0; i < C; i++ {
				myc <- 0
			}
			for i := 0; i < C; i++ {
				<-myc
			}
		}
	})
}

// chan/creation follows BenchmarkChanCreation: RunParallel; per op: make a
// chan int of capacity 1, one send, one receive, (C: release it).
func chanCreation(n int) {
	benchParallel(n, 1000, func(pb *benchPB) {
		for pb.Next() {
			myc := make(chan int, 1)
			myc <- 0
			<-myc
		}
	})
}

// chan/sem follows BenchmarkChanSem: one chan struct{} of capacity
// GOMAXPROCS, so with GOMAXPROCS workers a send never blocks; RunParallel
// (grain 1000); per op: one send and one receive on it.
func chanSem(n int) {
	type empty struct{}
	myc := make(chan empty, runtime.GOMAXPROCS(0))
	benchParallel(n, 1000, func(pb *benchPB) {
		for pb.Next() {
			myc <- empty{}
			<-myc
		}
	})
}

// chan/pingpong (ours): main and one goroutine, two unbuffered chan int;
// main sends on ping and receives from pong, the goroutine receives from
// ping and sends it back on pong. Per op: one ROUND TRIP (two hand-offs).
func chanPingPong(n int) {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	close(ping)
}

// chan/nonblocking follows BenchmarkChanNonblocking: RunParallel over one
// unbuffered chan int nobody sends on; per op: select { case <-myc:
// default: } (C: csp_try_recv), which always takes the default.
func chanNonblocking(n int) {
	myc := make(chan int)
	benchParallel(n, 10000, func(pb *benchPB) {
		for pb.Next() {
			select {
			case <-myc:
			default:
			}
		}
	})
}

// chan/popular follows BenchmarkChanPopular: one unbuffered chan bool c
// nobody sends on and 1000 goroutines, each with its own unbuffered chan
// bool d (wg.Add(1000) first). Each goroutine does n x select { case <-c:
// case <-d: }, then wg.Done(); main does n x (d <- true for each of the
// 1000 d, in order), then wg.Wait(). Per op: 1000 sends, each completing a
// 2-case select that was (usually) parked on the shared c as well as on
// its own d. Goroutine creation is inside the timing, as in Go's.
func chanPopular(n int) {
	const g = 1000
	c := make(chan bool)
	var a []chan bool
	var wg sync.WaitGroup
	wg.Add(g)
	for j := 0; j < g; j++ {
		d := make(chan bool)
		a = append(a, d)
		go func() {
			for i := 0; i < n; i++ {
				select {
				case <-c:
				case <-d:
				}
			}
			wg.Done()
		}()
	}
	for i := 0; i < n; i++ {
		for _, d := range a {
			d <- true
		}
	}
	wg.Wait()
}

// chan/closed follows BenchmarkChanClosed: one closed chan struct{};
// RunParallel (grain 10000); per op: select { case <-c: default: } (C:
// csp_try_recv), which always receives from the closed channel.
func chanClosed(n int) {
	c := make(chan struct{})
	close(c)
	benchParallel(n, 10000, func(pb *benchPB) {
		for pb.Next() {
			select {
			case <-c:
			default:
				panic("chan/closed: unreachable default")
			}
		}
	})
}

func main() {
	benchRun("chan/sync", benchN(2000000, 200000), chanSync)
	benchRun("chan/prodcons/0", benchN(1000000, 100000), func(n int) { chanProdCons(n, 0) })
	benchRun("chan/prodcons/10", benchN(2000000, 200000), func(n int) { chanProdCons(n, 10) })
	benchRun("chan/prodcons/100", benchN(2000000, 200000), func(n int) { chanProdCons(n, 100) })
	benchRun("chan/prodcons_work/0", benchN(1000000, 100000), func(n int) { chanProdConsWork(n, 0) })
	benchRun("chan/prodcons_work/10", benchN(1000000, 100000), func(n int) { chanProdConsWork(n, 10) })
	benchRun("chan/prodcons_work/100", benchN(1000000, 100000), func(n int) { chanProdConsWork(n, 100) })
	benchRun("chan/uncontended", benchN(200000, 20000), chanUncontended)
	benchRun("chan/contended", benchN(50000, 5000), chanContended)
	benchRun("chan/creation", benchN(5000000, 500000), chanCreation)
	benchRun("chan/sem", benchN(5000000, 500000), chanSem)
	benchRun("chan/pingpong", benchN(1000000, 100000), chanPingPong)
	benchRun("chan/nonblocking", benchN(50000000, 5000000), chanNonblocking)
	benchRun("chan/popular", benchN(600, 60), chanPopular)
	benchRun("chan/closed", benchN(100000000, 10000000), chanClosed)
}

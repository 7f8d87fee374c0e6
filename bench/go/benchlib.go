// benchlib.go: the benchmark protocol for the Go twins (see bench/README.md).
//
// Built together with each twin: go build -o bin/go_NAME go/NAME.go go/benchlib.go
// (no module, standard library only). bench/bench.h is the same thing for C;
// keep the two in step, they define how C and Go do identical work:
//
//   - `prog [--quick]`; env BENCH selects rows (benchWant below).
//   - One output line per row: `<row> <value> <unit>`; comments start with '#'.
//   - Fixed iteration counts (benchN), smaller under --quick.
//   - benchRun: runtime.GC(), one untimed warm-up pass of n/10 iterations
//     (at least 1), runtime.GC() again, then the timed pass of n; value =
//     wall time of the timed pass / n.
//   - benchParallel is testing.B.RunParallel with a fixed grain: GOMAXPROCS
//     goroutines claim iterations from one shared atomic counter, `grain` at
//     a time, until n are claimed; the caller times the whole call. Each row
//     fixes its grain (the same in C) near what RunParallel would pick: the
//     iterations of ~100 us, clamped to 1..10000.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	benchQuick   bool
	benchPattern []string
)

func init() {
	for _, a := range os.Args[1:] {
		switch a {
		case "--quick", "-quick":
			benchQuick = true
		default:
			fmt.Fprintf(os.Stderr, "usage: %s [--quick]   (env BENCH=pattern selects rows)\n", os.Args[0])
			os.Exit(2)
		}
	}
	for _, p := range strings.Split(os.Getenv("BENCH"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			benchPattern = append(benchPattern, p)
		}
	}
	fmt.Printf("# %s %s GOMAXPROCS=%d NumCPU=%d quick=%v\n", filepath.Base(os.Args[0]),
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), benchQuick)
}

// benchWant reports whether the row is selected by BENCH: unset or empty
// selects everything; otherwise BENCH is a comma-separated list of
// alternatives, and a row is selected when one matches. An alternative
// containing '*', '?' or '[' is a glob matched against the whole name
// (fnmatch(3) with no flags: '*' also matches '/'); any other alternative
// is a substring.
func benchWant(row string) bool {
	if len(benchPattern) == 0 {
		return true
	}
	for _, p := range benchPattern {
		if strings.ContainsAny(p, "*?[") {
			if globMatch(p, row) {
				return true
			}
		} else if strings.Contains(row, p) {
			return true
		}
	}
	return false
}

// globMatch: '*' any run of bytes (including '/'), '?' one byte, '[...]' a
// set with ranges a-z and '!' for negation, '\' quotes the next byte.
func globMatch(p, s string) bool {
	// Iterative matcher with one backtrack point for the last '*'.
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			switch p[pi] {
			case '*':
				starP, starS = pi, si
				pi++
				continue
			case '?':
				pi++
				si++
				continue
			case '[':
				if ok, next, valid := matchClass(p, pi, s[si]); valid {
					if ok {
						pi, si = next, si+1
						continue
					}
				} else if s[si] == '[' { // unterminated: literal '['
					pi, si = pi+1, si+1
					continue
				}
			case '\\':
				if pi+1 < len(p) && p[pi+1] == s[si] {
					pi, si = pi+2, si+1
					continue
				}
			default:
				if p[pi] == s[si] {
					pi, si = pi+1, si+1
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		pi, si = starP+1, starS
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchClass matches c against the set starting at p[i] == '['; it returns
// whether c is in it, the index after ']', and false if there is no ']'.
func matchClass(p string, i int, c byte) (bool, int, bool) {
	j := i + 1
	neg := false
	if j < len(p) && p[j] == '!' {
		neg = true
		j++
	}
	in := false
	first := true
	for j < len(p) && (first || p[j] != ']') {
		first = false
		lo := p[j]
		if lo == '\\' && j+1 < len(p) {
			j++
			lo = p[j]
		}
		hi := lo
		if j+2 < len(p) && p[j+1] == '-' && p[j+2] != ']' {
			hi = p[j+2]
			j += 2
		}
		if lo <= c && c <= hi {
			in = true
		}
		j++
	}
	if j >= len(p) {
		return false, 0, false
	}
	return in != neg, j + 1, true
}

// benchN: the fixed iteration count for this mode.
func benchN(full, quick int) int {
	if benchQuick {
		return quick
	}
	return full
}

func benchReport(row string, value float64, unit string) {
	fmt.Printf("%s %.6g %s\n", row, value, unit)
}

// benchRun times f(n) after a warm-up f(n/10) and reports ns per iteration.
func benchRun(row string, n int, f func(n int)) {
	benchRunPart(row, n, func(n int) time.Duration {
		t0 := time.Now()
		f(n)
		return time.Since(t0)
	})
}

// benchRunPart: benchRun for rows that time only a part of f (f returns
// that part's duration): GC, warm-up f(n/10), GC, f(n).
func benchRunPart(row string, n int, f func(n int) time.Duration) {
	if !benchWant(row) {
		return
	}
	w := n / 10
	if w < 1 {
		w = 1
	}
	runtime.GC()
	f(w)
	runtime.GC()
	dt := f(n)
	benchReport(row, float64(dt.Nanoseconds())/float64(n), "ns/op")
}

// benchPB is testing.PB: Next claims grain iterations at a time.
type benchPB struct {
	next  *uint64
	total uint64
	grain uint64
	cache uint64
}

func (pb *benchPB) Next() bool {
	if pb.cache == 0 {
		n := atomic.AddUint64(pb.next, pb.grain)
		if n <= pb.total {
			pb.cache = pb.grain
		} else if n < pb.total+pb.grain {
			pb.cache = pb.total + pb.grain - n
		} else {
			return false
		}
	}
	pb.cache--
	return true
}

// benchParallel runs body in GOMAXPROCS goroutines sharing n iterations,
// claimed grain at a time, and returns when all of them have returned.
func benchParallel(n, grain int, body func(pb *benchPB)) { benchParallelP(n, grain, 1, body) }

// benchParallelP is benchParallel with b.SetParallelism(p): p * GOMAXPROCS
// goroutines share the n iterations. C: bench_parallel_p in sync.c.
func benchParallelP(n, grain, p int, body func(pb *benchPB)) {
	var next uint64
	if grain < 1 {
		grain = 1
	}
	procs := p * runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	wg.Add(procs)
	for i := 0; i < procs; i++ {
		go func() {
			defer wg.Done()
			body(&benchPB{next: &next, total: uint64(n), grain: uint64(grain)})
		}()
	}
	wg.Wait()
}

// benchRSSKB: resident set size in KiB, from /proc/self/statm.
func benchRSSKB() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, rss int64
	fmt.Sscan(string(b), &size, &rss)
	return float64(rss) * float64(os.Getpagesize()) / 1024
}

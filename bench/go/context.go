// Go twin of bench/context.c: package context, after context/benchmark_test.go.
// GOMAXPROCS is the default. "RunParallel" below is benchParallel(n, grain,
// body) (see benchlib.go); C passes the same grain to bench_parallel.
// Go collects contexts; the C side releases each one it made
// (csp_ctx_release) where Go leaves it to the garbage collector, inside the
// timed part.
package main

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// ctx/common_parent_cancel follows BenchmarkCommonParentCancel: root :=
// WithValue(Background(), "key", "value"); shared, sharedcancel :=
// WithCancel(root), open throughout. RunParallel (grain 200); each worker
// has x := 0; per op: ctx, cancel := WithCancel(shared) (registers with
// shared); ctx.Value("key") must be "value" (one cancelCtx layer, then the
// valueCtx); 100 x { x /= x + 1 }; cancel() (unregisters; Done was never
// called); 100 x { x /= x + 1 }. C: the key is the address of a static,
// x is a long hidden from the optimiser before each division (Go's
// compiler does not fold the divisions either), and ctx is released after
// its cancel.
func commonParentCancel(n int) {
	root := context.WithValue(context.Background(), "key", "value")
	shared, sharedcancel := context.WithCancel(root)
	defer sharedcancel()
	benchParallel(n, 200, func(pb *benchPB) {
		x := 0
		for pb.Next() {
			ctx, cancel := context.WithCancel(shared)
			if ctx.Value("key").(string) != "value" {
				panic("ctx/common_parent_cancel: should not be reached")
			}
			for i := 0; i < 100; i++ {
				x /= x + 1
			}
			cancel()
			for i := 0; i < 100; i++ {
				x /= x + 1
			}
		}
	})
}

// ctx/with_timeout/{40,4000} follow BenchmarkWithTimeout, concurrency=40
// and 4000 (Go's 400000 is left out: 400,000 live timers cost seconds to
// set up per run). Untimed setup: GOMAXPROCS goroutines each make
// concurrency/GOMAXPROCS contexts WithTimeout(Background(), 1 hour) and
// keep them open (armed timers). Timed: RunParallel (grain 20); per op: 10
// x WithTimeout(Background(), 1 hour) into an array, then their 10 cancel
// funcs in order (each stops its timer). Untimed teardown: cancel the
// setup's contexts. The row is ns per op (10 made, 10 canceled). C:
// csp_ctx_with_timeout; csp_ctx_cancel + csp_ctx_release.
func withTimeout(n, concurrency int) time.Duration {
	gomaxprocs := runtime.GOMAXPROCS(0)
	perPContexts := concurrency / gomaxprocs
	root := context.Background()
	var wg sync.WaitGroup
	ccf := make([][]context.CancelFunc, gomaxprocs)
	for i := range ccf {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cf := make([]context.CancelFunc, perPContexts)
			for j := range cf {
				_, cf[j] = context.WithTimeout(root, time.Hour)
			}
			ccf[i] = cf
		}(i)
	}
	wg.Wait()
	t0 := time.Now()
	benchParallel(n, 20, func(pb *benchPB) {
		wcf := make([]context.CancelFunc, 10)
		for pb.Next() {
			for i := range wcf {
				_, wcf[i] = context.WithTimeout(root, time.Hour)
			}
			for _, f := range wcf {
				f()
			}
		}
	})
	dt := time.Since(t0)
	for _, cf := range ccf {
		for _, f := range cf {
			f()
		}
	}
	return dt
}

// ctx/cancel_tree/{background,open,closed} follow BenchmarkCancelTree,
// depth=100, Root=Background / OpenCanceler / ClosedCanceler. Per op: one
// chain of 100 contexts, each WithCancel of the one before (their cancel
// funcs discarded), built on
//
//	background: Background() (nothing registers anywhere);
//	open:       ctx, cancel := WithCancel(Background()); build; cancel()
//	            (cancels the 100, Done never called);
//	closed:     ctx, cancel := WithCancel(Background()); cancel(); build
//	            (each is born canceled).
//
// The row is ns per chain (per 100 contexts). C: csp_ctx_with_cancel x
// 100 into an array, csp_ctx_cancel of the root where Go calls cancel(),
// then csp_ctx_release of the root and of each of the 100 in order (Go's
// garbage; the chain frees itself when the last one goes).
const treeDepth = 100

func buildContextTree(root context.Context, depth int) {
	for d := 0; d < depth; d++ {
		root, _ = context.WithCancel(root)
	}
}

func cancelTreeBackground(n int) {
	for i := 0; i < n; i++ {
		buildContextTree(context.Background(), treeDepth)
	}
}

func cancelTreeOpen(n int) {
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		buildContextTree(ctx, treeDepth)
		cancel()
	}
}

func cancelTreeClosed(n int) {
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		buildContextTree(ctx, treeDepth)
	}
}

// ctx/check_canceled/{err,done} follow BenchmarkCheckCanceled: ctx, cancel
// := WithCancel(Background()); cancel(), before timing. Per op, err:
// ctx.Err(); done: select { case <-ctx.Done(): default: } (ctx.Done()
// loads the closed channel; the receive finds it closed). C: csp_ctx_err;
// csp_try_recv(csp_ctx_done(ctx), NULL, NULL).
var sinkErr error

func checkCanceledErr(n int) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var err error
	for i := 0; i < n; i++ {
		err = ctx.Err()
	}
	sinkErr = err
}

func checkCanceledDone(n int) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < n; i++ {
		select {
		case <-ctx.Done():
		default:
		}
	}
}

// ctx/value_depth10 follows BenchmarkDeepValueSameGoRoutine, depth=10: ctx
// = Background() wrapped in 10 WithValue(ctx, i, i), i = 0..9, built before
// timing. Per op: ctx.Value(-1), a key that is not there: compares the key
// at all 10 layers, then asks Background (nil). C: 10 csp_ctx_with_value
// with 10 distinct key addresses; per op csp_ctx_value with an 11th key.
func valueDepth10(n int) {
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		ctx = context.WithValue(ctx, i, i)
	}
	hits := 0
	for i := 0; i < n; i++ {
		if ctx.Value(-1) != nil {
			hits++
		}
	}
	if hits != 0 {
		panic("ctx/value_depth10: found a key that is not there")
	}
}

func main() {
	benchRun("ctx/common_parent_cancel", benchN(400000, 40000), commonParentCancel)
	benchRunPart("ctx/with_timeout/40", benchN(50000, 5000), func(n int) time.Duration { return withTimeout(n, 40) })
	benchRunPart("ctx/with_timeout/4000", benchN(50000, 5000), func(n int) time.Duration { return withTimeout(n, 4000) })
	benchRun("ctx/cancel_tree/background", benchN(5000, 500), cancelTreeBackground)
	benchRun("ctx/cancel_tree/open", benchN(5000, 500), cancelTreeOpen)
	benchRun("ctx/cancel_tree/closed", benchN(5000, 500), cancelTreeClosed)
	benchRun("ctx/check_canceled/err", benchN(20000000, 2000000), checkCanceledErr)
	benchRun("ctx/check_canceled/done", benchN(20000000, 2000000), checkCanceledDone)
	benchRun("ctx/value_depth10", benchN(10000000, 1000000), valueDepth10)
}

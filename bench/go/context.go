// Go twin of bench/context.c: package context, after context/benchmark_test.go.
// One goroutine each (no RunParallel); GOMAXPROCS is the default.
package main

import "context"

// ctx/with_cancel (like BenchmarkCommonParentCancel without the Value
// lookup, the local work and RunParallel): one parent, WithCancel(
// Background()), made before timing and open throughout. Per op: ctx,
// cancel := WithCancel(parent) (registers the child with its cancelable
// parent) then cancel() (closes nothing: Done was never called, and
// unregisters it). C: csp_ctx_with_cancel(parent), csp_ctx_cancel,
// csp_ctx_release.
func withCancel(n int) {
	parent, pcancel := context.WithCancel(context.Background())
	for i := 0; i < n; i++ {
		_, cancel := context.WithCancel(parent)
		cancel()
	}
	pcancel()
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

// ctx/cancel_tree (ours; a wide tree, where BenchmarkCancelTree builds a
// chain): per op: root, cancel := WithCancel(Background()); 100 children
// WithCancel(root); cancel() of the root, which cancels all 100 (nobody
// called Done on them); then the 100 children's own cancel funcs, in
// order, which find them canceled already. C: csp_ctx_with_cancel x 101,
// csp_ctx_cancel(root), then csp_ctx_cancel + csp_ctx_release of each child
// in order, and csp_ctx_release(root).
// The row reports ns per TREE (101 contexts made, 101 canceled).
func cancelTree(n int) {
	var kids [100]context.Context
	var cancels [100]context.CancelFunc
	for i := 0; i < n; i++ {
		root, cancel := context.WithCancel(context.Background())
		for k := range kids {
			kids[k], cancels[k] = context.WithCancel(root)
		}
		cancel()
		for _, c := range cancels {
			c()
		}
	}
	if kids[99].Err() == nil {
		panic("ctx/cancel_tree: child not canceled")
	}
}

func main() {
	benchRun("ctx/with_cancel", benchN(5000000, 500000), withCancel)
	benchRun("ctx/value_depth10", benchN(20000000, 2000000), valueDepth10)
	benchRun("ctx/cancel_tree", benchN(30000, 3000), cancelTree)
}

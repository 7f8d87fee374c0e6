# Makefile of csp.h. `make help` lists the targets.
#
# Every tests/test_*.c is compiled alone into one binary per variant directory
# (build/gcc, build/clang, build/asan, build/tsan, build/aarch64), every
# tests/cxx/*.cpp into build/cxx, and tests/run.sh runs a directory of them.
# T=pattern selects tests (CSP_TEST_FILTER; see tests/csp_test.h).

# make's built-in CC is `cc` and CXX is `g++`: prefer gcc unless told otherwise.
ifeq ($(origin CC),default)
CC = gcc
endif
ifeq ($(origin CXX),default)
CXX = g++
endif
CC ?= gcc
CXX ?= g++
CLANG ?= clang
CROSS_CC ?= aarch64-linux-gnu-gcc
QEMU ?= qemu-aarch64
PYTHON ?= python3

CFLAGS_COMMON = -std=c11 -O2 -g -Wall -Wextra -Wpedantic -Werror -pthread -fstack-clash-protection -I. -Itests
# Your own additions, for every variant.
EXTRA_CFLAGS ?=
CFLAGS_ASAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -O1
CFLAGS_TSAN = -fsanitize=thread -O1 -g
CFLAGS_AARCH64 = -static
CXXFLAGS_TEST = -std=c++17 -O2 -Wall -Wextra -Werror -pthread -I. -Itests
# Libraries after the source (libm: the tests use <fenv.h> and <math.h>).
LDLIBS ?= -lm

# Run-time options of the sanitizer matrices (override on the command line).
ASAN_OPTIONS ?= detect_stack_use_after_return=1:detect_leaks=1
UBSAN_OPTIONS ?= print_stacktrace=1
TSAN_OPTIONS ?= halt_on_error=1:second_deadlock_stack=1:atexit_sleep_ms=0
# TSan's shadow memory layout breaks under high ASLR entropy (vm.mmap_rnd_bits
# above 28: "FATAL: ThreadSanitizer: unexpected memory mapping"); `setarch -R`
# turns address randomisation off for the test binaries (and their children).
# Empty it (TSAN_WRAPPER=) to run without.
TSAN_WRAPPER ?= $(shell setarch -R true >/dev/null 2>&1 && echo setarch -R)

# The API contract lives beside the project (CI has it; a user's clone does not).
CONTRACT ?= ../shared/contract/api_contract.c
CONTRACT_SKIPS ?=

TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TEST_NAMES := $(TEST_SRCS:tests/%.c=%)
CXX_SRCS := $(sort $(wildcard tests/cxx/*.cpp))
EXAMPLE_SRCS := $(sort $(wildcard examples/*.c))
# Every binary is rebuilt when the header or the runner changes.
HDRS := $(wildcard csp.h) tests/csp_test.h

# The filter, when T is given; SEED=n runs in deterministic mode (CSP_SEED,
# virtual time unless VIRT=0), which replays a seed that failed.
RUN_FILTER = $(if $(T),CSP_TEST_FILTER='$(T)') $(if $(SEED),CSP_SEED='$(SEED)' $(if $(filter 0,$(VIRT)),,CSP_SEED_VIRTUAL_TIME=1))

.PHONY: all help test test-clang test-asan test-tsan test-aarch64 test-cxx test-gdb test-race-example run bench \
        bench-quick all-matrix contract check-header clean test-maxprocs fuzz-sched verify FORCE

all: $(TEST_NAMES:%=build/gcc/%)

help:
	@echo 'make test          gcc build of every tests/test_*.c, run by tests/run.sh (T=pattern filters);'
	@echo '                   also builds examples/*.c, whose output tests/test_examples.c checks'
	@echo 'make test-clang    the same with clang'
	@echo 'make test-asan     gcc with ASan+UBSan, short mode'
	@echo 'make test-tsan     clang with TSan, short mode'
	@echo 'make test-race-example  TSan reports the race of examples/33_race.c; 34 and 36 run clean'
	@echo 'make test-aarch64  aarch64-linux-gnu-gcc -static, run under qemu-aarch64, short mode'
	@echo 'make test-maxprocs the gcc build of tests/test_chan*.c and test_sync.c with CSP_MAXPROCS=1, 2 and 8'
	@echo 'make test-cxx      tests/cxx/*.cpp with g++ -std=c++17'
	@echo 'make all-matrix    all of the above, one after the other'
	@echo 'make fuzz-sched    FUZZ_BIN=test_x T=pattern SEEDS=n: deterministic schedules 1..n, first failing seed'
	@echo '                   (replay one: make test SEED=n T=name; VIRT=0 for real time)'
	@echo 'make test-gdb      tools/csp-gdb.py on tests/gdb/parked.c: live, core files, AArch64 (tests/gdb/run.sh)'
	@echo 'make run           build examples/*.c and run the tour (examples/tour.sh); EX=name runs one'
	@echo 'make bench         build bench/ and run bench/run.py; bench-quick: run.py --quick'
	@echo 'make check-header  csp.h alone: gcc, clang (c11, c17), g++ (c++17), with and without CSP_STATIC'
	@echo 'make contract      compile $(CONTRACT) against csp.h (if it exists)'
	@echo 'make verify        Relacy models of the lock-free parts (tools/verify/): each passes, each mutation is caught'
	@echo 'make clean         remove build/'

# ---- test variants --------------------------------------------------------------
# $(call variant,DIR,COMPILER-VARIABLE,FLAGS-VARIABLE): build/DIR/test_% from
# tests/test_%.c. build/DIR/.flags holds the command line used; it changes (and
# everything in DIR is rebuilt) only when the compiler or the flags change.
define variant
build/$(1)/.flags: FORCE
	@mkdir -p build/$(1)
	@echo '$$($(2)) $$($(3))' | cmp -s - $$@ || echo '$$($(2)) $$($(3))' > $$@
build/$(1)/test_%: tests/test_%.c $$(HDRS) build/$(1)/.flags
	$$($(2)) $$($(3)) $$< -o $$@ $$(LDLIBS)
endef

GCC_FLAGS = $(CFLAGS_COMMON) $(EXTRA_CFLAGS)
CLANG_FLAGS = $(CFLAGS_COMMON) $(EXTRA_CFLAGS)
ASAN_FLAGS = $(CFLAGS_COMMON) $(CFLAGS_ASAN) $(EXTRA_CFLAGS)
TSAN_FLAGS = $(CFLAGS_COMMON) $(CFLAGS_TSAN) $(EXTRA_CFLAGS)
AARCH64_FLAGS = $(CFLAGS_COMMON) $(CFLAGS_AARCH64) $(EXTRA_CFLAGS)

$(eval $(call variant,gcc,CC,GCC_FLAGS))
$(eval $(call variant,clang,CLANG,CLANG_FLAGS))
$(eval $(call variant,asan,CC,ASAN_FLAGS))
$(eval $(call variant,tsan,CLANG,TSAN_FLAGS))
$(eval $(call variant,aarch64,CROSS_CC,AARCH64_FLAGS))

build/cxx/.flags: FORCE
	@mkdir -p build/cxx
	@echo '$(CXX) $(CXXFLAGS_TEST)' | cmp -s - $@ || echo '$(CXX) $(CXXFLAGS_TEST)' > $@
build/cxx/%: tests/cxx/%.cpp $(HDRS) build/cxx/.flags
	$(CXX) $(CXXFLAGS_TEST) $< -o $@ $(LDLIBS)

# The examples too: tests/test_examples.c runs them from CSP_EXAMPLES_DIR, and
# tests/test_servers.c runs the two servers (70, 71) under curl and a load
# generator (the other matrices do not set it, and those tests are skipped there).
test: $(TEST_NAMES:%=build/gcc/%) $(EXAMPLE_SRCS:examples/%.c=build/examples/%)
	$(RUN_FILTER) CSP_EXAMPLES_DIR=build/examples bash tests/run.sh build/gcc

test-clang: $(TEST_NAMES:%=build/clang/%)
	$(RUN_FILTER) bash tests/run.sh build/clang

test-asan: $(TEST_NAMES:%=build/asan/%)
	$(RUN_FILTER) CSP_TEST_SHORT=1 ASAN_OPTIONS='$(ASAN_OPTIONS)' UBSAN_OPTIONS='$(UBSAN_OPTIONS)' \
	    bash tests/run.sh build/asan

test-tsan: $(TEST_NAMES:%=build/tsan/%)
	$(RUN_FILTER) CSP_TEST_SHORT=1 TSAN_OPTIONS='$(TSAN_OPTIONS)' bash tests/run.sh build/tsan $(TSAN_WRAPPER)

test-aarch64: $(TEST_NAMES:%=build/aarch64/%)
	$(RUN_FILTER) CSP_TEST_SHORT=1 bash tests/run.sh build/aarch64 $(QEMU)

test-cxx: $(CXX_SRCS:tests/cxx/%.cpp=build/cxx/%)
	$(RUN_FILTER) bash tests/run.sh build/cxx

# The channel and sync tests under several processor counts (issue #5), from a
# directory of their own (tests/run.sh runs a whole directory). test_sched is
# left out: it sets maxprocs itself and takes minutes.
MAXPROCS_VALUES ?= 1 2 8
MAXPROCS_TESTS := $(filter test_chan% test_sync%,$(TEST_NAMES))
test-maxprocs: $(MAXPROCS_TESTS:%=build/gcc/%)
	@rm -rf build/maxprocs && mkdir -p build/maxprocs && cp $^ build/maxprocs/
	@rc=0; for n in $(MAXPROCS_VALUES); do echo "=== CSP_MAXPROCS=$$n"; \
	    $(RUN_FILTER) CSP_MAXPROCS=$$n bash tests/run.sh build/maxprocs || rc=1; done; exit $$rc

# Schedule fuzzing (deterministic mode): FUZZ_BIN under seeds 1..SEEDS,
# stopping at the first that fails (tests/fuzz_sched.sh).
FUZZ_BIN ?= test_chan
SEEDS ?= 1000
fuzz-sched: build/gcc/$(FUZZ_BIN)
	bash tests/fuzz_sched.sh build/gcc/$(FUZZ_BIN) $(SEEDS) '$(T)'

# tools/csp-gdb.py: gdb on a stopped process and its core files (tests/gdb/run.sh).
build/gdb/parked: tests/gdb/parked.c $(HDRS)
	@mkdir -p build/gdb
	$(CC) $(GCC_FLAGS) $< -o $@ $(LDLIBS)

test-gdb: build/gdb/parked
	bash tests/gdb/run.sh build/gdb/parked

# One matrix entry after the other (each still builds in parallel under -j).
all-matrix:
	@set -e; for t in test test-clang test-asan test-tsan test-aarch64 test-cxx; do \
	    echo "=== make $$t"; $(MAKE) --no-print-directory $$t; done

# ---- examples -------------------------------------------------------------------
build/examples/.flags: FORCE
	@mkdir -p build/examples
	@echo '$(CC) $(GCC_FLAGS)' | cmp -s - $@ || echo '$(CC) $(GCC_FLAGS)' > $@
build/examples/%: examples/%.c $(HDRS) build/examples/.flags
	$(CC) $(GCC_FLAGS) $< -o $@ $(LDLIBS)

# The racy counter (examples/33_race.c, Go in Action 6.9) must be REPORTED by
# ThreadSanitizer, as Go's race detector reports the Go original; its fixed
# versions (34 atomic, 36 mutex) must run clean under it.
build/race/%: examples/%.c $(HDRS)
	@mkdir -p build/race
	$(CLANG) -std=c11 $(CFLAGS_TSAN) -pthread -I. $< -o $@ $(LDLIBS)

test-race-example: build/race/33_race build/race/34_atomic_counter build/race/36_mutex_counter
	@out=$$(TSAN_OPTIONS='exitcode=0 atexit_sleep_ms=0' $(TSAN_WRAPPER) build/race/33_race 2>&1); \
	if printf '%s\n' "$$out" | grep -q 'WARNING: ThreadSanitizer: data race'; then \
	    echo "ok: 33_race: TSan reports the data race"; \
	else printf '%s\n' "$$out"; echo "FAILED: 33_race: TSan reported no data race"; exit 1; fi
	@for x in 34_atomic_counter 36_mutex_counter; do \
	    out=$$(TSAN_OPTIONS='atexit_sleep_ms=0' $(TSAN_WRAPPER) build/race/$$x 2>&1); rc=$$?; \
	    if [ $$rc -ne 0 ] || printf '%s\n' "$$out" | grep -q ThreadSanitizer; then \
	        printf '%s\n' "$$out"; echo "FAILED: $$x is not clean under TSan (exit $$rc)"; exit 1; fi; \
	    echo "ok: $$x: clean under TSan"; done

# EX=name: only the examples whose name contains it (built and run).
RUN_EXAMPLES := $(if $(EX),$(foreach f,$(EXAMPLE_SRCS),$(if $(findstring $(EX),$(notdir $(f))),$(f))),$(EXAMPLE_SRCS))
run: $(RUN_EXAMPLES:examples/%.c=build/examples/%)
	bash examples/tour.sh build/examples '$(EX)'

# ---- benchmarks (bench/ has its own Makefile and driver) ----------------------
bench:
	@if [ ! -f bench/run.py ]; then echo "bench: bench/run.py does not exist yet: nothing to run"; exit 0; fi; \
	if [ -f bench/Makefile ]; then $(MAKE) -C bench || exit $$?; fi; \
	$(PYTHON) bench/run.py

bench-quick:
	@if [ ! -f bench/run.py ]; then echo "bench-quick: bench/run.py does not exist yet: nothing to run"; exit 0; fi; \
	if [ -f bench/Makefile ]; then $(MAKE) -C bench || exit $$?; fi; \
	$(PYTHON) bench/run.py --quick

# ---- the header on its own ------------------------------------------------------
contract:
	@if [ -f '$(CONTRACT)' ]; then \
	    mkdir -p build/contract && \
	    echo "$(CC) -std=c11 -Wall -Wextra -Werror -pthread -I. -c $(CONTRACT) $(CONTRACT_SKIPS)" && \
	    $(CC) -std=c11 -Wall -Wextra -Werror -pthread -I. -c '$(CONTRACT)' $(CONTRACT_SKIPS) \
	        -o build/contract/api_contract.o && echo "contract: csp.h matches the API contract"; \
	else echo "contract: $(CONTRACT) not found: skipped"; fi

# Each configuration is one object: gcc-c11, clang-c17-static, gxx-cxx17, ...
CHECK_WARN = -Wall -Wextra -Wpedantic -Werror
CHECK_CONFIGS = gcc-c11 gcc-c17 clang-c11 clang-c17 gxx-cxx17
CHECK_OBJS = $(foreach c,$(CHECK_CONFIGS),build/check-header/$(c).o build/check-header/$(c)-static.o)
check_std = $(patsubst cxx17,c++17,$(word 2,$(subst -, ,$(1))))
check_static = $(if $(findstring -static,$(1)),-DCSP_STATIC)

ifeq ($(wildcard csp.h),)
check-header:
	@echo "check-header: there is no csp.h yet"; exit 1
else
check-header: $(CHECK_OBJS)
	@echo "check-header: csp.h compiles warning-free in all $(words $(CHECK_OBJS)) configurations"
endif

build/check-header/one.c:
	@mkdir -p $(@D)
	@printf '#define CSP_IMPLEMENTATION\n#include "csp.h"\n' > $@
build/check-header/one.cpp: build/check-header/one.c
	@cp $< $@
build/check-header/gcc-%.o: build/check-header/one.c csp.h
	$(CC) -std=$(call check_std,gcc-$*) $(CHECK_WARN) $(call check_static,$*) -pthread -I. -c $< -o $@
build/check-header/clang-%.o: build/check-header/one.c csp.h
	$(CLANG) -std=$(call check_std,clang-$*) $(CHECK_WARN) $(call check_static,$*) -pthread -I. -c $< -o $@
build/check-header/gxx-%.o: build/check-header/one.cpp csp.h
	$(CXX) -std=$(call check_std,gxx-$*) $(CHECK_WARN) $(call check_static,$*) -pthread -I. -c $< -o $@

# ---- weak-memory models (Relacy; apt-get install relacy-dev) -------------------
verify:
	VERIFY_JOBS=$(or $(VERIFY_JOBS),2) bash tools/verify/run.sh build/verify

clean:
	rm -rf build

FORCE:

// test_cxx.cpp -- csp.h compiled as C++17, implementation included, and every
// area that exists used from C++ (plus the runner itself in C++).
#define CSP_IMPLEMENTATION
#include "csp.h"
#include "csp_test.h"
#include "sched_util.h"

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

TEST(runner_checks_in_cxx) {
    std::vector<int> v(100);
    std::iota(v.begin(), v.end(), 1);
    EXPECT_EQ(std::accumulate(v.begin(), v.end(), 0), 5050, "sum of 1..%zu", v.size());
    EXPECT_EQ_U(v.size(), 100u);
    std::string s = "go" + std::string("routine");
    EXPECT_STREQ(s.c_str(), "goroutine");
    EXPECT_MEM_EQ(s.data(), "gorou", 5);
    REQUIRE(!v.empty());
    EXPECT(v.front() == 1 && v.back() == 100);

    int hits = 0;
    std::thread t([&hits] { for (int i = 0; i < 1000; i++) hits += EXPECT_LT(i, 1000); });
    t.join();
    EXPECT_EQ(hits, 1000, "checks from a std::thread");
}

CHILD(cxx_child) {
    std::string msg = "child in C++";
    std::printf("%s\n", msg.c_str());
    std::exit(5);
}

TEST(runner_child_in_cxx) {
    csp_test_child r = RUN_CHILD_ENV(cxx_child, 30000, "CSP_CXX_CHILD=1");
    EXPECT_CHILD_EXIT(r, 5);
    EXPECT_CHILD_OUTPUT_HAS(r, "child in C++\n");
    csp_test_child_free(&r);
}

// ---- csp.h from C++ ---------------------------------------------------------------
static latch cxx_done;
static std::vector<int> *cxx_seen;
static csp__lock_t cxx_lock;

static void cxx_worker(void *arg) {
    int v = *static_cast<int *>(arg);
    csp_yield();
    csp_sleep(CSP_MICROSECOND * 50);
    csp__lock(&cxx_lock);
    cxx_seen->push_back(v);
    csp__unlock(&cxx_lock);
    latch_done(&cxx_done);
}

TEST(goroutines_from_cxx) {
    std::vector<int> seen;
    cxx_seen = &seen;
    latch_init(&cxx_done, 64);
    for (int i = 0; i < 64; i++) REQUIRE_EQ(csp_go_copy(cxx_worker, &i, sizeof i), 0);
    latch_wait(&cxx_done);
    std::sort(seen.begin(), seen.end());
    std::vector<int> want(64);
    std::iota(want.begin(), want.end(), 0);
    EXPECT(seen == want, "every goroutine ran once");
    EXPECT_EQ_U(csp_id(), 1u);
    EXPECT_GE(csp_maxprocs(0), 1);
    EXPECT_GE(csp_num_cpu(), 1);
    EXPECT_GE(csp_num_goroutines(), 1);
    csp_go_opts o = { 0, "cxx" };
    latch_init(&cxx_done, 1);
    int v = 99;
    REQUIRE_EQ(csp_go_ex(cxx_worker, &v, &o), 0);
    latch_wait(&cxx_done);
    csp_block_begin();
    csp_block_end();
    EXPECT_GT(csp_now(), 0);
}

// The batch driver (batch.hpp: validation, ragged CSR layout, per-problem
// outputs) and the CPU back end (cpu_backend.cpp: threads, interruption).
// The small cases here are also what run_sanitizers.sh runs under valgrind.
#define LAWFIT_TEST_MAIN
#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cpu_backend.hpp"
#include "cuda_backend.cuh"  // the GPU's layout rule is plain C++
#include "harness.hpp"
#include "lawfit/batch.hpp"
#include "lawfit/group.hpp"
#include "lawfit/reduce.hpp"
#include "programs.hpp"

using lawfit::Status;

namespace {

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

int code(Status s) { return static_cast<int>(s); }

// A ragged batch of exponential decays y = a exp(-b x) + c, one law per
// entry of `sizes`, with owned storage and a BatchView over it.
struct Batch : lft::BatchOutputs {
    lft::Program prog = lft::exp_decay();
    std::vector<double> columns, y, weight, p0, lower, upper;
    std::vector<std::int64_t> offsets{0}, problem_law;
    std::vector<std::uint8_t> fixed;
    std::vector<double> truth;  // per law, 3 values

    explicit Batch(const std::vector<int>& sizes, double noise = 0.0) {
        for (std::size_t law = 0; law < sizes.size(); ++law) {
            const double a = 1.0 + 0.37 * law, b = 0.5 + 0.11 * (law % 7), c = 0.1 * (law % 3);
            truth.insert(truth.end(), {a, b, c});
            for (int i = 0; i < sizes[law]; ++i) {
                const double x = 4.0 * i / std::max(1, sizes[law] - 1);
                columns.push_back(x);
                y.push_back(a * std::exp(-b * x) + c + noise * std::sin(3.0 * i + law));
            }
            offsets.push_back(static_cast<std::int64_t>(y.size()));
            p0.insert(p0.end(), {1.0, 1.0, 0.0});
        }
        lower.assign(3, -kInf);
        upper.assign(3, kInf);
    }
    std::int64_t n_laws() const { return static_cast<std::int64_t>(offsets.size()) - 1; }
    std::int64_t n_problems() const { return static_cast<std::int64_t>(p0.size() / 3); }

    lawfit::BatchView view() {
        const std::int64_t K = n_problems();
        lawfit::BatchView b{};  // every field named: new fields keep their defaults
        attach(b, K, 3, kNaN, -1);
        b.prog = prog.view();
        b.columns = columns.data();
        b.n_points = static_cast<std::int64_t>(y.size());
        b.y = y.data();
        b.weight = weight.empty() ? nullptr : weight.data();
        b.offsets = offsets.data();
        b.n_laws = n_laws();
        b.problem_law = problem_law.empty() ? nullptr : problem_law.data();
        b.n_problems = K;
        b.p0 = p0.data();
        b.fixed = fixed.empty() ? nullptr : fixed.data();
        b.fixed_stride = static_cast<std::int64_t>(fixed.size()) == 3 * K && K > 1 ? 3 : 0;
        b.lower = lower.data();
        b.upper = upper.data();
        b.bounds_stride = static_cast<std::int64_t>(lower.size()) == 3 * K && K > 1 ? 3 : 0;
        b.opt = lawfit::LmOptions();
        return b;
    }

    // Runs every problem with block size B (and scratch capacities NP, NS) on this thread.
    template <int B, int NP = lawfit::kMaxParams, int NS = lawfit::kMaxStack>
    void solve_serial() {
        const lawfit::BatchView b = view();
        auto ws = std::make_unique<lawfit::Workspace<B, NP, NS>>();
        for (std::int64_t i = 0; i < b.n_problems; ++i) lawfit::solve_problem(b, i, *ws);
    }

    bool solve_threads(int n_threads, const lawfit::Poll& poll = nullptr) {
        const lawfit::BatchView b = view();
        return lawfit::solve_batch_cpu(b, n_threads, poll);
    }

    bool converged(std::int64_t k) const { return lawfit::converged(static_cast<Status>(status[k])); }
};

// What the GPU's group layout needs from a thread group, done by CPU
// threads: shfl and all exchange values through shared slots between two
// barrier waits, so each lane sees what the tile's intrinsics would give it.
class LaneExchange {
  public:
    std::uint64_t exchange(int lane, std::uint64_t bits, int src) {
        slots_[lane] = bits;
        wait();
        const std::uint64_t out = slots_[src];
        wait();
        return out;
    }

  private:
    void wait() {
        std::unique_lock<std::mutex> lock(mu_);
        const long gen = generation_;
        if (++arrived_ == lawfit::kBlock) {
            arrived_ = 0;
            ++generation_;
            cv_.notify_all();
        } else {
            cv_.wait(lock, [&] { return generation_ != gen; });
        }
    }
    std::mutex mu_;
    std::condition_variable cv_;
    int arrived_ = 0;
    long generation_ = 0;
    std::uint64_t slots_[lawfit::kBlock] = {};
};

struct EmulatedGroup {
    int lane;
    LaneExchange* ex;
    int thread_rank() const { return lane; }
    template <class T>
    T shfl(T v, int src) const {
        static_assert(sizeof(T) <= sizeof(std::uint64_t), "one slot per lane");
        std::uint64_t bits = 0;
        std::memcpy(&bits, &v, sizeof(T));
        bits = ex->exchange(lane, bits, src);
        T out;
        std::memcpy(&out, &bits, sizeof(T));
        return out;
    }
    bool all(bool pred) const {
        bool every = true;
        for (int i = 0; i < lawfit::kBlock; ++i) every = shfl(pred, i) && every;
        return every;
    }
};

// Runs every problem of b in the GPU's group layout (lawfit/group.hpp), with
// kBlock CPU threads standing in for the GPU threads of a group.
template <class Runner = lawfit::Interpreter>
void solve_in_groups(const lawfit::BatchView& b) {
    for (std::int64_t i = 0; i < b.n_problems; ++i) {
        LaneExchange ex;
        std::vector<std::thread> lanes;
        for (int lane = 0; lane < lawfit::kBlock; ++lane)
            lanes.emplace_back([&b, &ex, i, lane] {
                auto ws = std::make_unique<lawfit::Workspace<1, 4, 8>>();
                lawfit::solve_problem_group<Runner>(EmulatedGroup{lane, &ex}, b, i, *ws);
            });
        for (auto& t : lanes) t.join();
    }
}

// A law with generated-style code (lawfit.codegen's runner contract): y = a exp(-b x) + c
// with run() and a fused run_fused(), so that the layouts' fused paths run on the CPU.
struct FusedExpDecay {
    static constexpr std::uint32_t kMask = 7u;
    static constexpr bool kFused = true;

    template <int B, int NP, int NS>
    static bool run(const lawfit::ProgramView&, const double* columns, std::int64_t, std::int64_t point0, int nb,
                    const double* params, std::uint32_t free_mask, lawfit::BlockScratch<B, NP, NS>& s) {
        for (int i = 0; i < B; ++i) {
            const double x = columns[point0 + (i < nb ? i : nb - 1)];
            const double e = lawfit::math::exp(-(params[1] * x));
            s.val[0][i] = params[0] * e + params[2];
            s.grad[0][0][i] = e;
            s.grad[0][1][i] = -(params[0] * e * x);
            s.grad[0][2][i] = 1.0;
        }
        s.mask[0] = kMask & free_mask;
        return true;
    }

    template <int B, int NP, bool kLog, lawfit::Loss kLoss, int W, bool kUnit = false>
    static void run_fused(const double* columns, std::int64_t, std::int64_t point0, int nb, const double* params,
                          const double* y, const double* weight, const std::int32_t* counts, double d2,
                          double floor, lawfit::Accumulator<B, NP>& acc, int lane0) {
        for (int i = 0; i < W; ++i) {
            const int k = i < nb ? i : nb - 1;  // padding lanes repeat the last point with weight 0
            const double x = columns[point0 + k];
            const double e = lawfit::math::exp(-(params[1] * x));
            double f = params[0] * e + params[2];
            double g[3] = {e, -(params[0] * e * x), 1.0};
            if (kLog) {
                const double inv_f = 1.0 / f;
                f = lawfit::math::log(f);
                for (double& v : g) v *= inv_f;
            }
            const double w = i < nb ? (weight ? weight[point0 + k] : 1.0) : 0.0;
            const double m = i < nb ? (counts ? counts[k] : 1.0) : 0.0;
            const double r = f - y[point0 + k];
            double wr, wt;
            if (kLoss == lawfit::Loss::L2) {
                wt = kUnit ? 1.0 : w * m;  // kUnit: whole block, no weights or counts
                wr = kUnit ? r : wt * r;
                acc.cost[lane0 + i] += wr * r;
            } else {
                lawfit::detail::robust_point<kLoss == lawfit::Loss::HUBER>(r, w, m, d2, floor, acc.cost[lane0 + i],
                                                                          wr, wt);
            }
            for (int j = 0; j < 3; ++j) {
                acc.g[j][lane0 + i] += wr * g[j];
                const double wg = wt * g[j];
                for (int c = j; c < 3; ++c) acc.A[j][c][lane0 + i] += wg * g[c];
            }
        }
    }
};

void check_recovers_truth(const Batch& batch, std::int64_t k, std::int64_t law, double rtol, double atol = 1e-9) {
    for (int j = 0; j < 3; ++j) CHECK_NEAR(batch.params[3 * k + j], batch.truth[3 * law + j], rtol, atol);
}

}  // namespace

LF_TEST(ragged_batch_recovers_every_law) {
    // Sizes around the block length: 3 (one short block) ... 100.
    Batch batch({3, 4, 15, 16, 17, 31, 32, 33, 100, 7});
    batch.solve_serial<16>();
    for (std::int64_t k = 0; k < batch.n_problems(); ++k) {
        CHECK(batch.converged(k));
        check_recovers_truth(batch, k, k, 1e-7);
        CHECK(batch.cost[k] < 1e-18);
        CHECK(batch.nfev[k] >= 1 && batch.nit[k] >= 0);
    }
}

LF_TEST(block_size_does_not_change_results) {
    Batch b1({5, 16, 17, 40}, 0.01), b16 = b1, b4 = b1;
    b1.solve_serial<1>();
    b4.solve_serial<4>();
    b16.solve_serial<16>();
    for (std::int64_t k = 0; k < b1.n_problems(); ++k) {
        CHECK(b1.converged(k));
        CHECK_EQ(b1.status[k], b16.status[k]);
        // Sums are accumulated per lane, so the grouping of points differs
        // with B; the fits agree to the accuracy the tolerances ask for.
        for (int j = 0; j < 3; ++j) {
            CHECK_NEAR(b16.params[3 * k + j], b1.params[3 * k + j], 1e-6, 1e-9);
            CHECK_NEAR(b4.params[3 * k + j], b1.params[3 * k + j], 1e-6, 1e-9);
        }
        CHECK_NEAR(b16.cost[k], b1.cost[k], 1e-8, 1e-15);
    }
}

LF_TEST(jtj_output_is_the_gauss_newton_matrix_at_the_solution) {
    Batch batch({25});
    batch.solve_serial<16>();
    CHECK(batch.converged(0));
    const double a = batch.params[0], b = batch.params[1];
    double A[9] = {0};
    for (std::int64_t i = 0; i < 25; ++i) {
        const double x = batch.columns[i], e = std::exp(-b * x);
        const double J[3] = {e, -a * x * e, 1.0};
        for (int r = 0; r < 3; ++r)
            for (int c = 0; c < 3; ++c) A[3 * r + c] += J[r] * J[c];
    }
    for (int j = 0; j < 9; ++j) CHECK_NEAR(batch.jtj[j], A[j], 1e-12, 1e-14);
}

LF_TEST(bad_input_gets_a_status_and_spares_the_others) {
    // Eleven problems over five laws; every other problem is fine.
    Batch batch({20, 20, 20, 2, 0});
    batch.y[1 * 20 + 3] = kNaN;                   // law 1: NaN y
    batch.columns[2 * 20 + 5] = kInf;              // law 2: inf input
    batch.problem_law = {0, 1, 2, 3, 4, 0, 0, 0, 0, 5, -1};
    batch.p0.assign(11 * 3, 1.0);
    for (int k = 0; k < 11; ++k) batch.p0[3 * k + 2] = 0.0;
    batch.lower.assign(11 * 3, -kInf);
    batch.upper.assign(11 * 3, kInf);
    batch.p0[5 * 3 + 1] = kNaN;                    // problem 5: NaN start
    batch.p0[6 * 3 + 0] = 5.0;                     // problem 6: start above its upper bound
    batch.upper[6 * 3 + 0] = 4.0;
    batch.lower[7 * 3 + 1] = 2.0;                  // problem 7: lower > upper
    batch.upper[7 * 3 + 1] = 1.0;
    batch.p0[7 * 3 + 1] = 1.5;
    batch.weight.assign(batch.y.size(), 1.0);      // problem 8 is fine: weights of 1
    batch.solve_serial<16>();
    const Status expected[11] = {Status::CONVERGED_FTOL, Status::BAD_INPUT, Status::BAD_INPUT,
                                 Status::BAD_INPUT,  // law 3: 2 points, 3 free parameters
                                 Status::BAD_INPUT,  // law 4: no points
                                 Status::BAD_INPUT, Status::BAD_INPUT, Status::BAD_INPUT,
                                 Status::CONVERGED_FTOL,
                                 Status::BAD_INPUT,   // law 5 does not exist
                                 Status::BAD_INPUT};  // law -1
    for (int k = 0; k < 11; ++k) {
        const bool good = expected[k] == Status::CONVERGED_FTOL;
        if (good) {
            CHECK(batch.converged(k));
            check_recovers_truth(batch, k, 0, 1e-7);
        } else {
            if (!CHECK_EQ(batch.status[k], code(Status::BAD_INPUT))) std::fprintf(stderr, "  problem %d\n", k);
            CHECK_EQ(batch.nfev[k], 0);
            for (int j = 0; j < 9; ++j) CHECK_EQ(batch.jtj[9 * k + j], 0.0);
        }
    }
}

LF_TEST(bad_weights_and_offsets_are_bad_input) {
    Batch batch({10, 10, 10});
    batch.weight.assign(30, 1.0);
    batch.weight[12] = -1.0;  // law 1: negative weight
    batch.weight[25] = kNaN;  // law 2: NaN weight
    batch.solve_serial<16>();
    CHECK(batch.converged(0));
    CHECK_EQ(batch.status[1], code(Status::BAD_INPUT));
    CHECK_EQ(batch.status[2], code(Status::BAD_INPUT));
    // Offsets that leave the point arrays (the binding rejects decreasing
    // offsets; the driver must still never read outside [0, n_points)).
    Batch out({10, 10});
    out.offsets = {-5, 10, 25};
    out.solve_serial<16>();
    CHECK_EQ(out.status[0], code(Status::BAD_INPUT));
    CHECK_EQ(out.status[1], code(Status::BAD_INPUT));
    // Zero weights everywhere: the cost is exactly zero at the start.
    Batch zero({10});
    zero.weight.assign(10, 0.0);
    zero.solve_serial<16>();
    CHECK(zero.converged(0));
    CHECK_EQ(zero.cost[0], 0.0);
    CHECK(zero.params[0] == 1.0 && zero.params[1] == 1.0 && zero.params[2] == 0.0);
}

LF_TEST(non_finite_model_is_non_finite) {
    // a * x ** -b at x = 0 is inf: every start is NON_FINITE, not BAD_INPUT.
    Batch batch({12, 12});
    batch.prog = lft::Program({{lft::Op::PARAM, 0}, {lft::Op::INPUT, 0}, {lft::Op::LOG, 0}, {lft::Op::PARAM, 1},
                               {lft::Op::MUL, 0}, {lft::Op::NEG, 0}, {lft::Op::EXP, 0}, {lft::Op::MUL, 0},
                               {lft::Op::PARAM, 2}, {lft::Op::ADD, 0}},
                              {}, 3, 1);
    for (int i = 0; i < 12; ++i) batch.y[12 + i] = 1.0 + 0.5 / (1.0 + batch.columns[12 + i]);
    for (int i = 12; i < 24; ++i) batch.columns[i] += 1.0;  // law 1: x >= 1, fine
    batch.solve_serial<16>();
    CHECK_EQ(batch.status[0], code(Status::NON_FINITE));
    CHECK_EQ(batch.nfev[0], 1);
    CHECK(batch.status[1] != code(Status::NON_FINITE) && batch.status[1] != code(Status::BAD_INPUT));
    // A malformed program is refused per problem, never read out of bounds.
    Batch bad({8});
    bad.prog = lft::Program({{lft::Op::PARAM, 0}, {lft::Op::ADD, 0}}, {}, 3, 1);
    bad.solve_serial<16>();
    CHECK(bad.status[0] == code(Status::NON_FINITE) || bad.status[0] == code(Status::BAD_INPUT));
}

LF_TEST(starts_share_their_law_and_fixed_and_bounds_per_problem) {
    Batch batch({30, 30}, 0.01);
    batch.problem_law = {0, 0, 1, 1};
    batch.p0 = {1.0, 1.0, 0.0, 3.0, 0.2, 1.0, 1.0, 0.3, 0.0, 1.0, 1.0, 0.25};
    batch.fixed = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};  // problem 3 holds c = 0.25
    batch.lower = {-kInf, -kInf, -kInf, -kInf, -kInf, -kInf, -kInf, 0.0, -kInf, -kInf, -kInf, -kInf};
    batch.upper = {kInf, kInf, kInf, kInf, kInf, kInf, kInf, 0.55, kInf, kInf, kInf, kInf};
    batch.solve_serial<16>();
    for (int k = 0; k < 4; ++k) CHECK(batch.converged(k));
    for (int j = 0; j < 3; ++j)  // two starts of law 0 find the same minimum
        CHECK_NEAR(batch.params[j], batch.params[3 + j], 1e-6, 1e-9);
    CHECK(batch.params[2 * 3 + 1] <= 0.55);          // problem 2: b bounded above
    CHECK_EQ(batch.params[3 * 3 + 2], 0.25);          // problem 3: c held exactly
    CHECK_EQ(batch.jtj[3 * 9 + 8], 0.0);              // no curvature for a held parameter
    // Fixing a parameter at its fitted value leaves the others where they were.
    Batch again({30, 30}, 0.01);
    again.p0 = {1.0, 1.0, batch.params[2], 1.0, 1.0, 0.0};
    again.fixed = {0, 0, 1};  // shared mask (stride 0)
    again.solve_serial<16>();
    CHECK_EQ(again.params[2], batch.params[2]);
    CHECK_NEAR(again.params[0], batch.params[0], 1e-6, 1e-9);
    CHECK_NEAR(again.params[1], batch.params[1], 1e-6, 1e-9);
    CHECK_EQ(again.params[5], 0.0);  // law 1 holds c = 0 under the shared mask
}

LF_TEST(threads_give_bit_identical_results) {
    std::vector<int> sizes;
    for (int k = 0; k < 300; ++k) sizes.push_back(3 + (k * 7) % 60);
    Batch serial(sizes, 0.02);
    serial.solve_serial<16>();
    for (int threads : {1, 2, 3, 8}) {
        Batch b(sizes, 0.02);
        CHECK(b.solve_threads(threads));
        for (std::int64_t k = 0; k < b.n_problems(); ++k) {
            CHECK_EQ(b.status[k], serial.status[k]);
            CHECK_EQ(b.nfev[k], serial.nfev[k]);
            CHECK_SAME_BITS(b.cost[k], serial.cost[k]);
            for (int j = 0; j < 3; ++j) CHECK_SAME_BITS(b.params[3 * k + j], serial.params[3 * k + j]);
        }
    }
}

LF_TEST(empty_batch_and_more_threads_than_problems) {
    Batch none({});
    CHECK(none.solve_threads(4));
    Batch one({10});
    CHECK(one.solve_threads(64));
    CHECK(one.converged(0));
    Batch all_cores({10, 12});
    CHECK(all_cores.solve_threads(0));  // <= 0: every core
    CHECK(all_cores.converged(0) && all_cores.converged(1));
}

LF_TEST(interruption_marks_unsolved_problems) {
    // Many problems of one law (problem_law), interrupted at the first poll
    // (about 50 ms in): the call returns false, solved problems keep their
    // results, and the others say INTERRUPTED; none is left NOT_RUN.
    const std::int64_t K = 200000;
    Batch batch({200}, 0.01);
    batch.problem_law.assign(K, 0);
    batch.p0.clear();
    for (std::int64_t k = 0; k < K; ++k) batch.p0.insert(batch.p0.end(), {1.0 + 1e-6 * (k % 1000), 1.0, 0.0});
    std::atomic<int> polls{0};
    const bool completed = batch.solve_threads(2, [&](std::int64_t) { return ++polls > 0; });
    CHECK(!completed);
    CHECK(polls >= 1);
    std::int64_t interrupted = 0, solved = 0;
    for (std::int64_t k = 0; k < K; ++k) {
        const Status s = static_cast<Status>(batch.status[k]);
        if (s == Status::INTERRUPTED) {
            ++interrupted;
        } else if (lawfit::converged(s)) {
            ++solved;
        }
    }
    std::printf("  %lld solved, %lld interrupted of %lld\n", static_cast<long long>(solved),
                static_cast<long long>(interrupted), static_cast<long long>(K));
    CHECK(interrupted > 0);
    CHECK_EQ(interrupted + solved, K);
    CHECK(batch.converged(0));
    check_recovers_truth(batch, 0, 0, 1e-2, 1e-3);  // noisy data
}

LF_TEST(polls_see_the_count_of_finished_problems) {
    // Each poll is told how many problems are finished: the count never
    // decreases, never exceeds the batch, is reached by the problems actually
    // solved, and grows while the batch runs.  Stopped after a few polls.
    const std::int64_t K = 200000;
    Batch batch({200}, 0.01);
    batch.problem_law.assign(K, 0);
    batch.p0.clear();
    for (std::int64_t k = 0; k < K; ++k) batch.p0.insert(batch.p0.end(), {1.0 + 1e-6 * (k % 1000), 1.0, 0.0});
    std::vector<std::int64_t> seen;
    const bool completed = batch.solve_threads(2, [&](std::int64_t finished) {
        seen.push_back(finished);
        return seen.size() >= 4;
    });
    CHECK(!completed);
    CHECK_EQ(static_cast<std::int64_t>(seen.size()), 4);
    for (std::size_t k = 1; k < seen.size(); ++k) CHECK(seen[k] >= seen[k - 1]);
    CHECK(seen.back() > seen.front());
    CHECK(seen.back() <= K);
    std::int64_t solved = 0;
    for (std::int64_t k = 0; k < K; ++k)
        if (batch.status[k] != code(Status::INTERRUPTED)) ++solved;
    CHECK(solved >= seen.back());
    CHECK(solved < K);
}

LF_TEST(size_classes_give_bit_identical_results) {
    // The scratch capacities only change array sizes, never the arithmetic.
    Batch small({5, 16, 17, 40}, 0.01), large = small;
    CHECK_EQ(lawfit::program_stack_depth(small.prog.view()), 3);
    small.solve_serial<16, 4, 8>();
    large.solve_serial<16>();
    for (std::int64_t k = 0; k < small.n_problems(); ++k) {
        CHECK_EQ(small.status[k], large.status[k]);
        CHECK_EQ(small.nfev[k], large.nfev[k]);
        CHECK_SAME_BITS(small.cost[k], large.cost[k]);
        for (int j = 0; j < 3; ++j) CHECK_SAME_BITS(small.params[3 * k + j], large.params[3 * k + j]);
    }
    // A law that does not fit a class is refused, not overrun.
    auto ws = std::make_unique<lawfit::Workspace<16, 2, 8>>();
    const lawfit::BatchView b = small.view();
    lawfit::solve_problem(b, 0, *ws);
    CHECK_EQ(small.status[0], code(Status::BAD_INPUT));
    CHECK_EQ(small.params[0], 1.0);  // the start, as given
}

LF_TEST(stack_depth_of_programs) {
    lft::Program underflow = lft::exp_decay();
    underflow.code.insert(underflow.code.begin(), {static_cast<int>(lawfit::Op::ADD), 0});
    CHECK_EQ(lawfit::program_stack_depth(underflow.view()), -1);
}

LF_TEST(lanes_spread_over_threads_add_up_like_one_block) {
    // What the GPU's group layout relies on: 16 one-point lanes, lane i taking
    // points begin + i, begin + i + 16, ..., then summed in lane order, give
    // the bits of the CPU's 16-lane block evaluation (plain and robust loss,
    // log residuals, bootstrap multiplicities, weights).
    Batch batch({5, 16, 37, 100}, 0.02);
    batch.weight.resize(batch.y.size());
    for (std::size_t k = 0; k < batch.weight.size(); ++k) batch.weight[k] = 0.5 + 0.01 * static_cast<double>(k % 13);
    const lawfit::BatchView b = batch.view();
    const double params[3] = {1.3, 0.7, 0.05};
    constexpr int B = lawfit::kBlock;
    for (int variant = 0; variant < 3; ++variant) {
        lawfit::Objective obj;
        if (variant == 1) {
            obj.loss = lawfit::Loss::HUBER;
            obj.delta = 0.01;
            obj.irls_floor = 1.0;
        }
        for (std::int64_t law = 0; law < b.n_laws; ++law) {
            const lawfit::Resample res = lawfit::Resample::of(11, law, variant == 2 ? 3 : -1, nullptr);
            lawfit::ProblemData data{b.columns, b.n_points, b.y, b.weight, b.offsets[law], b.offsets[law + 1]};
            auto s16 = std::make_unique<lawfit::BlockScratch<B, 4, 8>>();
            auto a16 = std::make_unique<lawfit::Accumulator<B, 4>>();
            lawfit::ProgramEvaluator<B, 4, 8> block{b.prog, data, obj, res, *s16, *a16};
            double A_cpu[9], g_cpu[3], c_cpu = 0.0;
            CHECK(block(params, 7u, A_cpu, g_cpu, &c_cpu));

            std::vector<lawfit::Accumulator<1, 4>> lanes(B);
            lawfit::BlockScratch<1, 4, 8> s1;
            std::uint32_t mask = 0;
            for (int lane = 0; lane < B; ++lane) {
                bool first = true;
                for (std::int64_t p = data.begin + lane; p < data.end; p += B) {
                    CHECK(lawfit::run_block(b.prog, data.columns, data.col_stride, p, 1, params, 7u, s1));
                    if (first) {
                        mask = s1.mask[0] & 7u;
                        lanes[lane].reset(mask);
                        first = false;
                    }
                    lawfit::accumulate_block(obj, data, res, p, 1, mask, s1, lanes[lane]);
                }
                if (first) lanes[lane].reset(7u);
            }
            auto lane_sum = [&lanes](int j, int k) {
                double t = 0.0;
                for (const auto& a : lanes) t += j < 0 ? a.cost[0] : (k < 0 ? a.g[j][0] : a.A[j][k][0]);
                return t;
            };
            double A_grp[9], g_grp[3], c_grp = 0.0;
            CHECK(lawfit::finish_sums(3, mask, lane_sum, A_grp, g_grp, &c_grp));
            CHECK_SAME_BITS(c_cpu, c_grp);
            for (int j = 0; j < 3; ++j) CHECK_SAME_BITS(g_cpu[j], g_grp[j]);
            for (int j = 0; j < 9; ++j) CHECK_SAME_BITS(A_cpu[j], A_grp[j]);
        }
    }
}

LF_TEST(start_grid_matches_explicit_starts) {
    // Grid a in {0.5, 2}, b in {0.3, 1, 3}, c in {0}: 6 starts per law, the
    // last parameter fastest; a start outside the bounds is clipped onto them.
    Batch explicit_starts({20, 30}, 0.01), grid = explicit_starts;
    const std::vector<double> values{0.5, 2.0, 0.3, 1.0, 3.0, 0.0};
    const std::vector<std::int32_t> sizes{2, 3, 1};
    explicit_starts.p0.clear();
    for (int law = 0; law < 2; ++law)
        for (double a : {0.5, 2.0})
            for (double bb : {0.3, 1.0, 3.0}) explicit_starts.p0.insert(explicit_starts.p0.end(), {a, std::min(bb, 2.0), 0.0});
    explicit_starts.problem_law = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1};
    explicit_starts.upper = {kInf, 2.0, kInf};
    grid.upper = explicit_starts.upper;
    grid.p0.assign(12 * 3, 0.0);  // sizes the outputs; not read
    explicit_starts.solve_serial<16>();
    lawfit::BatchView b = grid.view();
    b.p0 = nullptr;
    b.start_grid = values.data();
    b.grid_sizes = sizes.data();
    b.n_grid = 6;
    auto ws = std::make_unique<lawfit::Workspace<16>>();
    for (std::int64_t i = 0; i < b.n_problems; ++i) lawfit::solve_problem(b, i, *ws);
    for (std::int64_t k = 0; k < 12; ++k) {
        CHECK_EQ(grid.status[k], explicit_starts.status[k]);
        for (int j = 0; j < 3; ++j) CHECK_SAME_BITS(grid.params[3 * k + j], explicit_starts.params[3 * k + j]);
    }
}

LF_TEST(best_of_runs_and_replicate_summaries) {
    // Costs and statuses of 2 runs x 4 problems: the best converged cost wins;
    // a run with nothing converged falls back to the lowest finite cost.
    const double cost[8] = {3.0, 1.0, 0.5, 1.0, 2.0, NAN, 1.5, 4.0};
    const std::int32_t status[8] = {1, 2, 6, 1, 6, 1, 5, 9};
    std::int64_t n_conv = -1;
    CHECK_EQ(lawfit::best_in_run(cost, status, 0, 4, &n_conv), 1);
    CHECK_EQ(n_conv, 3);
    CHECK_EQ(lawfit::best_in_run(cost, status, 4, 4, &n_conv), 2);
    CHECK_EQ(n_conv, 0);
    // Quantiles: numpy.quantile([1, 2, 3, 4, 10], q) for q = 0, 0.25, 0.5, 0.975, 1.
    double v[5] = {10.0, 3.0, 1.0, 4.0, 2.0};
    lawfit::heap_sort(v, 5);
    for (int k = 0; k < 4; ++k) CHECK(v[k] <= v[k + 1]);
    CHECK_EQ(lawfit::sorted_quantile(v, 5, 0.0), 1.0);
    CHECK_EQ(lawfit::sorted_quantile(v, 5, 0.25), 2.0);
    CHECK_EQ(lawfit::sorted_quantile(v, 5, 0.5), 3.0);
    CHECK_NEAR(lawfit::sorted_quantile(v, 5, 0.975), 9.4, 1e-15, 0.0);
    CHECK_EQ(lawfit::sorted_quantile(v, 5, 1.0), 10.0);
    CHECK(std::isnan(lawfit::sorted_quantile(v, 0, 0.5)));
    // Summary over replicates: unused and non-finite ones are skipped.
    double reps[6] = {2.0, 100.0, 4.0, NAN, 6.0, 8.0};
    const bool use[6] = {true, false, true, true, true, true};
    const double q[2] = {0.0, 0.5};
    double mean = 0, sd = 0, quant[2];
    const std::int64_t used = lawfit::summarize_replicates(reps, use, 6, q, 2, &mean, &sd, quant, 1);
    CHECK_EQ(used, 4);
    CHECK_EQ(mean, 5.0);
    CHECK_NEAR(sd, std::sqrt(20.0 / 3.0), 1e-15, 0.0);
    CHECK_EQ(quant[0], 2.0);
    CHECK_EQ(quant[1], 5.0);
}

LF_TEST(group_and_thread_layouts_give_the_cpu_blocks_bits) {
    // The GPU's group layout (16 threads per problem), run by 16 CPU threads,
    // and its thread layout (one thread per problem, lanes one after another):
    // the same bits as the CPU's 16-point blocks, with weights, bad input,
    // bounds, fixed parameters, bootstrap resamples, a robust loss on log
    // residuals, and the cost-only pass that prunes starts.  On a GPU
    // tests/test_gpu.py checks the same with real tiles.
    for (int variant = 0; variant < 6; ++variant) {  // 4: robust loss, log residuals, no resample
        Batch cpu({3, 16, 17, 40, 100, 20, 5}, 0.02);
        cpu.weight.assign(cpu.y.size(), 1.0);
        for (std::size_t k = 0; k < cpu.weight.size(); ++k) cpu.weight[k] = 0.5 + 0.01 * static_cast<double>(k % 7);
        if (variant == 5) cpu.weight.clear();  // 5: no weights, L2: the CPU's whole blocks take run_fused's kUnit
        cpu.y[cpu.offsets[5] + 3] = kNaN;  // a bad point in law 5
        cpu.problem_law = {0, 1, 2, 3, 4, 5, 6, 4, 3};
        cpu.p0.clear();
        for (int k = 0; k < 9; ++k) cpu.p0.insert(cpu.p0.end(), {1.0 + 0.1 * k, 0.8, 0.0});
        cpu.lower.assign(27, -kInf);
        cpu.upper.assign(27, kInf);
        cpu.upper[7 * 3 + 1] = 0.6;  // problem 7: a bound the start violates -> BAD_INPUT
        cpu.upper[8 * 3 + 1] = 0.9;  // problem 8: a bound that may bind
        cpu.fixed.assign(27, 0);
        cpu.fixed[6 * 3 + 2] = 1;    // problem 6 holds c
        if (variant == 2 || variant == 4)  // log residuals fit log y
            for (double& v : cpu.y) v = std::log(std::fabs(v) + 0.1);
        Batch group = cpu, thread = cpu;
        auto configure = [variant](lawfit::BatchView& b) {
            if (variant >= 1 && variant <= 3) {
                b.seed = 7;
                static const std::int64_t resample[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
                b.problem_resample = resample;
            }
            if (variant == 2 || variant == 4) {
                b.objective.loss = lawfit::Loss::HUBER;
                b.objective.delta = 0.01;
                b.objective.irls_floor = 1.0;
                b.objective.log_residual = true;
            }
            b.evaluate_only = variant == 3;
        };
        // The interpreter, and a law with a fused path (generated code's contract):
        // the CPU's 16-lane blocks (quarter blocks for a short last one) against
        // both GPU layouts run here, each with its own runner.
        Batch cpu_fused = cpu, group_fused = cpu, thread_fused = cpu;
        auto solve_all = [&configure](Batch& batch, auto&& per_problem) {
            lawfit::BatchView b = batch.view();
            configure(b);
            for (std::int64_t i = 0; i < b.n_problems; ++i) per_problem(b, i);
        };
        auto ws16 = std::make_unique<lawfit::Workspace<16, 4, 8>>();
        auto ws1 = std::make_unique<lawfit::Workspace<1, 4, 8>>();
        solve_all(cpu, [&](const lawfit::BatchView& b, std::int64_t i) { lawfit::solve_problem(b, i, *ws16); });
        solve_all(cpu_fused, [&](const lawfit::BatchView& b, std::int64_t i) {
            lawfit::solve_problem<FusedExpDecay>(b, i, *ws16);
        });
        solve_all(thread, [&](const lawfit::BatchView& b, std::int64_t i) {
            lawfit::solve_problem_lane_order<lawfit::Interpreter>(b, i, *ws1);
        });
        solve_all(thread_fused, [&](const lawfit::BatchView& b, std::int64_t i) {
            lawfit::solve_problem_lane_order<FusedExpDecay>(b, i, *ws1);
        });
        {
            lawfit::BatchView b = group.view();
            configure(b);
            solve_in_groups(b);
            lawfit::BatchView bf = group_fused.view();
            configure(bf);
            solve_in_groups<FusedExpDecay>(bf);
        }
        int converged = 0;
        for (std::int64_t k = 0; k < 9; ++k) {
            for (const Batch* gpu : {&group_fused, &thread_fused}) {
                CHECK_EQ(gpu->status[k], cpu_fused.status[k]);
                CHECK_EQ(gpu->nfev[k], cpu_fused.nfev[k]);
                CHECK_SAME_BITS(gpu->cost[k], cpu_fused.cost[k]);
                for (int j = 0; j < 3; ++j) CHECK_SAME_BITS(gpu->params[3 * k + j], cpu_fused.params[3 * k + j]);
                for (int j = 0; j < 9; ++j) CHECK_SAME_BITS(gpu->jtj[9 * k + j], cpu_fused.jtj[9 * k + j]);
            }
            for (const Batch* gpu : {&group, &thread}) {
                CHECK_EQ(gpu->status[k], cpu.status[k]);
                CHECK_EQ(gpu->nfev[k], cpu.nfev[k]);
                CHECK_EQ(gpu->nit[k], cpu.nit[k]);
                CHECK_SAME_BITS(gpu->cost[k], cpu.cost[k]);
                for (int j = 0; j < 3; ++j) CHECK_SAME_BITS(gpu->params[3 * k + j], cpu.params[3 * k + j]);
                for (int j = 0; j < 9; ++j) CHECK_SAME_BITS(gpu->jtj[9 * k + j], cpu.jtj[9 * k + j]);
            }
            converged += cpu.converged(k);
        }
        CHECK_EQ(cpu.status[5], code(Status::BAD_INPUT));
        CHECK_EQ(cpu.status[7], code(Status::BAD_INPUT));
        std::printf("  variant %d: %d of 9 converged\n", variant, converged);
        if (variant == 3) CHECK_EQ(cpu.status[4], code(Status::NOT_RUN)); else CHECK(converged >= 4);
    }
}

// layout="auto" on the GPU (cuda_backend.cuh, measured on an H200): the group
// layout for interpreted laws of more than 4 parameters from one block of 16
// points, otherwise (compiled laws, small laws) from 128 points.
LF_TEST(gpu_auto_layout_rule) {
    using lawfit::cuda::Layout;
    using lawfit::cuda::auto_layout;
    CHECK(auto_layout(true, 5, 16.0) == Layout::GROUP);
    CHECK(auto_layout(true, 5, 15.9) == Layout::THREAD);
    CHECK(auto_layout(true, 9, 50.0) == Layout::GROUP);
    CHECK(auto_layout(true, 2, 50.0) == Layout::THREAD);   // the power law: thread ran 1.27x group
    CHECK(auto_layout(true, 4, 127.0) == Layout::THREAD);
    CHECK(auto_layout(true, 4, 128.0) == Layout::GROUP);
    CHECK(auto_layout(false, 5, 50.0) == Layout::THREAD);  // compiled Chinchilla: thread 1.13x group
    CHECK(auto_layout(false, 9, 2000.0) == Layout::GROUP);
}

// finish_sums reports a non-finite cost, gradient or J^T W J entry (the status NON_FINITE's
// source) and only that: its test reads the exponent bits, so every finite value passes,
// subnormals, -0 and the largest double included, and inf, -inf and NaN anywhere fail.
LF_TEST(finish_sums_flags_exactly_the_non_finite_sums) {
    const double inf = std::numeric_limits<double>::infinity();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double finite[] = {0.0, -0.0, 1.0, -2.5, 4.9e-324, -2.2250738585072014e-308,
                             std::numeric_limits<double>::max(), -std::numeric_limits<double>::max()};
    const double bad[] = {inf, -inf, nan, -nan};
    const int P = 3;
    const std::uint32_t masks[] = {0x7u, 0x5u};  // all parameters; one outside the mask (its rows stay 0)
    for (std::uint32_t mask : masks) {
        const int n_sums = 1 + (mask == 0x7u ? 3 + 6 : 2 + 3);  // cost, g of the mask, A (k >= j)
        for (int slot = -1; slot < n_sums; ++slot) {
            for (int kind = 0; kind < 2; ++kind) {
                const int count = kind == 0 ? 8 : 4;
                for (int v = 0; v < count; ++v) {
                    double sums[16];
                    for (int q = 0; q < n_sums; ++q) sums[q] = 0.25 * (q + 1);
                    if (slot >= 0) sums[slot] = kind == 0 ? finite[v] : bad[v];
                    int next = 0;
                    auto lane_sum = [&](int, int) { return sums[next++]; };
                    double A[P * P], g[P], cost = 0.0;
                    for (double& a : A) a = nan;  // garbage from a previous call
                    for (double& x : g) x = nan;
                    const bool ok = lawfit::finish_sums(P, mask, lane_sum, A, g, &cost);
                    CHECK_EQ(next, n_sums);
                    CHECK(ok == (slot < 0 || kind == 0));
                    if (mask != 0x7u) {  // parameter 1 is outside the mask: zero row and column
                        for (int k = 0; k < P; ++k) {
                            CHECK_EQ(A[1 * P + k], 0.0);
                            CHECK_EQ(A[k * P + 1], 0.0);
                        }
                        CHECK_EQ(g[1], 0.0);
                    }
                }
            }
        }
    }
}

// Robust losses (loss.hpp), bootstrap multiplicities (rng.hpp) and the
// objective options of the batch driver (robust loss, log residuals,
// resamples, evaluate-only).
#define LAWFIT_TEST_MAIN
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "harness.hpp"
#include "lawfit/batch.hpp"
#include "lawfit/loss.hpp"
#include "lawfit/rng.hpp"
#include "programs.hpp"

using lawfit::Loss;
using lawfit::Status;

namespace {

const double kInf = std::numeric_limits<double>::infinity();
const Loss kLosses[] = {Loss::L2, Loss::HUBER, Loss::SOFT_L1, Loss::CAUCHY, Loss::ARCTAN};

double rho(Loss loss, double z) {
    double r0, r1, r2;
    lawfit::loss_rho(loss, z, r0, r1, r2);
    return r0;
}

// y = a exp(-b x) + c on [0, 4], optional outliers, solved on this thread.
struct Problem : lft::BatchOutputs {
    lft::Program prog = lft::exp_decay();
    std::vector<double> x, y;
    std::vector<std::int64_t> offsets;
    std::vector<double> p0, lower, upper;
    std::vector<std::int64_t> resample, law_index;
    std::vector<std::int32_t> group;

    Problem(int m, int n_starts) {
        for (int i = 0; i < m; ++i) {
            x.push_back(4.0 * i / (m - 1));
            y.push_back(2.0 * std::exp(-0.7 * x.back()) + 0.3 + 0.01 * std::sin(5.0 * i));
        }
        offsets = {0, m};
        for (int k = 0; k < n_starts; ++k) p0.insert(p0.end(), {1.0, 1.0, 0.0});
        lower.assign(3, -kInf);
        upper.assign(3, kInf);
    }
    std::int64_t K() const { return static_cast<std::int64_t>(p0.size() / 3); }

    lawfit::BatchView view() {
        lawfit::BatchView b{};
        attach(b, K(), 3, 0.0, 0);
        b.prog = prog.view();
        b.columns = x.data();
        b.n_points = static_cast<std::int64_t>(y.size());
        b.y = y.data();
        b.offsets = offsets.data();
        b.n_laws = 1;
        b.n_problems = K();
        law_index.assign(K(), 0);  // every problem is a start (or resample) of law 0
        b.problem_law = law_index.data();
        b.p0 = p0.data();
        b.lower = lower.data();
        b.upper = upper.data();
        b.problem_resample = resample.empty() ? nullptr : resample.data();
        b.group = group.empty() ? nullptr : group.data();
        return b;
    }

    template <class Configure>
    void solve(Configure configure) {
        lawfit::BatchView b = view();
        configure(b);
        auto ws = std::make_unique<lawfit::Workspace<16>>();
        for (std::int64_t i = 0; i < b.n_problems; ++i) lawfit::solve_problem(b, i, *ws);
    }
    void solve() {
        solve([](lawfit::BatchView&) {});
    }
};

}  // namespace

LF_TEST(loss_derivatives_match_finite_differences) {
    for (Loss loss : kLosses)
        for (double z : {1e-3, 0.3, 0.9, 1.5, 4.0, 25.0, 1e4}) {
            double r0, r1, r2;
            lawfit::loss_rho(loss, z, r0, r1, r2);
            const double h = 1e-6 * z;
            const double d1 = (rho(loss, z + h) - rho(loss, z - h)) / (2 * h);
            double a0, a1, a2, b0, b1, b2;
            lawfit::loss_rho(loss, z + h, a0, a1, a2);
            lawfit::loss_rho(loss, z - h, b0, b1, b2);
            const double d2 = (a1 - b1) / (2 * h);
            CHECK_NEAR(r1, d1, 1e-6, 1e-12);
            CHECK_NEAR(r2, d2, 1e-5, 1e-9 * std::fabs(r1) / z);
            CHECK(r1 > 0.0);  // every loss is increasing in z
        }
}

LF_TEST(losses_agree_with_scipy_definitions) {
    // scipy.optimize.least_squares: rho(z) for z = (r / f_scale)^2.
    for (double z : {0.0, 0.25, 1.0, 2.0, 9.0}) {
        CHECK_NEAR(rho(Loss::L2, z), z, 1e-15, 0.0);
        CHECK_NEAR(rho(Loss::HUBER, z), z <= 1.0 ? z : 2.0 * std::sqrt(z) - 1.0, 1e-15, 0.0);
        CHECK_NEAR(rho(Loss::SOFT_L1, z), 2.0 * (std::sqrt(1.0 + z) - 1.0), 1e-15, 1e-300);
        CHECK_NEAR(rho(Loss::CAUCHY, z), std::log1p(z), 1e-15, 1e-300);
        CHECK_NEAR(rho(Loss::ARCTAN, z), std::atan(z), 1e-15, 1e-300);
    }
    // Huber is continuous with a continuous first derivative at z = 1.
    double l0, l1, l2, u0, u1, u2;
    lawfit::loss_rho(Loss::HUBER, 1.0, l0, l1, l2);
    lawfit::loss_rho(Loss::HUBER, std::nextafter(1.0, 2.0), u0, u1, u2);
    CHECK_NEAR(l0, u0, 1e-15, 0.0);
    CHECK_NEAR(l1, u1, 1e-15, 0.0);
}

LF_TEST(bootstrap_counts_are_poisson_one_and_keyed) {
    // Mean and variance 1; P(0) = e^-1; a pure function of its four keys.
    const int n = 200000;
    double sum = 0.0, sq = 0.0;
    int zeros = 0, max_count = 0;
    for (int u = 0; u < n; ++u) {
        const int c = lawfit::bootstrap_count(42, 3, 7, u);
        CHECK_EQ(c, lawfit::bootstrap_count(42, 3, 7, u));
        sum += c;
        sq += static_cast<double>(c) * c;
        zeros += c == 0;
        max_count = c > max_count ? c : max_count;
    }
    const double mean = sum / n, var = sq / n - mean * mean;
    CHECK(std::fabs(mean - 1.0) < 0.01);  // 4.5 standard errors
    CHECK(std::fabs(var - 1.0) < 0.02);
    CHECK(std::fabs(zeros / static_cast<double>(n) - std::exp(-1.0)) < 0.005);
    CHECK(max_count >= 5 && max_count <= 30);
    // Changing any key changes the draw for most units.
    int same_seed = 0, same_law = 0, same_resample = 0;
    for (int u = 0; u < 1000; ++u) {
        const int c = lawfit::bootstrap_count(42, 3, 7, u);
        same_seed += c == lawfit::bootstrap_count(43, 3, 7, u);
        same_law += c == lawfit::bootstrap_count(42, 4, 7, u);
        same_resample += c == lawfit::bootstrap_count(42, 3, 8, u);
    }
    // Two independent Poisson(1) draws agree with probability ~0.31.
    CHECK(same_seed < 400 && same_law < 400 && same_resample < 400);
}

// resample_count's inverse CDF as the device runs it (a division per step);
// the host looks the same CDF values up in a table: the counts must agree.
static int poisson_count_by_division(std::uint64_t key, std::int64_t unit) {
    const std::uint64_t h = lawfit::splitmix64(key ^ static_cast<std::uint64_t>(unit));
    const double u = static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);
    double p = 0.36787944117144233, cdf = p;
    int k = 0;
    while (u >= cdf && k < 30) {
        ++k;
        p /= k;
        cdf += p;
    }
    return k;
}

LF_TEST(bootstrap_counts_from_the_table_equal_the_division_loop) {
    // The table (compile time) entry by entry against the loop at run time.
    volatile double start = 0.36787944117144233;
    double p = start, cdf = p;
    CHECK_EQ(lawfit::detail::kPoissonCdf.at[0], cdf);
    for (volatile int k = 1; k <= 30; ++k) {
        p /= k;
        cdf += p;
        CHECK_EQ(lawfit::detail::kPoissonCdf.at[k], cdf);
    }
    int mismatches = 0, max_count = 0;
    for (std::int64_t law = 0; law < 20; ++law) {
        const std::uint64_t key = lawfit::resample_key(2026, law, law * 7 + 1);
        for (std::int64_t unit = 0; unit < 100000; ++unit) {
            const int c = lawfit::resample_count(key, unit);
            mismatches += c != poisson_count_by_division(key, unit);
            max_count = c > max_count ? c : max_count;
        }
    }
    CHECK_EQ(mismatches, 0);
    CHECK(max_count >= 8);  // 2e6 draws reach the table's far entries (P(count >= 8) ~ 1e-5)
}

LF_TEST(robust_loss_resists_an_outlier) {
    Problem l2(40, 1), huber(40, 1);
    l2.y[20] += 5.0;
    huber.y[20] += 5.0;
    l2.solve();
    huber.solve([](lawfit::BatchView& b) {
        b.objective.loss = Loss::HUBER;
        b.objective.delta = 0.05;
    });
    CHECK(lawfit::converged(static_cast<Status>(l2.status[0])));
    CHECK(lawfit::converged(static_cast<Status>(huber.status[0])));
    auto error = [](const Problem& p) {
        return std::fabs(p.params[0] - 2.0) + std::fabs(p.params[1] - 0.7) + std::fabs(p.params[2] - 0.3);
    };
    const double err_l2 = error(l2), err_h = error(huber);
    CHECK(err_h < 0.05);
    CHECK(err_h < 0.25 * err_l2);
}

LF_TEST(l2_objective_equals_huber_with_a_large_delta) {
    // Every residual inside delta: Huber is exactly L2 (rho = z, rho' = 1).
    Problem a(30, 1), b(30, 1);
    a.solve();
    b.solve([](lawfit::BatchView& v) {
        v.objective.loss = Loss::HUBER;
        v.objective.delta = 1e6;
    });
    for (int j = 0; j < 3; ++j) CHECK_NEAR(b.params[j], a.params[j], 1e-9, 1e-12);
    CHECK_NEAR(b.cost[0], a.cost[0], 1e-9, 1e-300);
}

LF_TEST(log_residuals_fit_log_y) {
    // With log residuals y holds log(y); exact data are fitted exactly.
    Problem p(30, 1);
    for (std::size_t i = 0; i < p.y.size(); ++i) p.y[i] = std::log(2.0 * std::exp(-0.7 * p.x[i]) + 0.3);
    p.solve([](lawfit::BatchView& b) { b.objective.log_residual = true; });
    CHECK(lawfit::converged(static_cast<Status>(p.status[0])));
    CHECK_NEAR(p.params[0], 2.0, 1e-7, 0.0);
    CHECK_NEAR(p.params[1], 0.7, 1e-7, 0.0);
    CHECK_NEAR(p.params[2], 0.3, 1e-7, 0.0);
}

LF_TEST(resamples_are_reproducible_and_differ) {
    Problem p(50, 4), q(50, 4);
    p.resample = {-1, 0, 1, 0};
    q.resample = {-1, 0, 1, 0};
    auto seed = [](lawfit::BatchView& b) { b.seed = 2024; };
    p.solve(seed);
    q.solve(seed);
    for (int k = 0; k < 4; ++k) {
        CHECK(lawfit::converged(static_cast<Status>(p.status[k])));
        CHECK_SAME_BITS(p.cost[k], q.cost[k]);
        for (int j = 0; j < 3; ++j) CHECK_SAME_BITS(p.params[3 * k + j], q.params[3 * k + j]);
    }
    for (int j = 0; j < 3; ++j) CHECK_SAME_BITS(p.params[3 + j], p.params[9 + j]);  // same resample
    CHECK(p.params[3] != p.params[6]);  // resamples 0 and 1 differ
    CHECK(p.params[3] != p.params[0]);  // and differ from the data as given
    // The cost of a resample is the multiplicity-weighted cost.
    double expected = 0.0;
    for (int i = 0; i < 50; ++i) {
        const double f = p.params[3] * std::exp(-p.params[4] * p.x[i]) + p.params[5];
        expected += lawfit::bootstrap_count(2024, 0, 0, i) * (f - p.y[i]) * (f - p.y[i]);
    }
    CHECK_NEAR(p.cost[1], 0.5 * expected, 1e-10, 0.0);
}

LF_TEST(group_resamples_and_bad_groups) {
    Problem p(40, 2);
    for (int i = 0; i < 40; ++i) p.group.push_back(i / 10);  // four groups of ten points
    p.resample = {3, 3};
    p.solve();
    // Whole groups share a multiplicity; one drawn group already holds more
    // points than there are parameters.
    int drawn = 0;
    for (int g = 0; g < 4; ++g) drawn += lawfit::bootstrap_count(0, 0, 3, g) > 0;
    const Status s = static_cast<Status>(p.status[0]);
    CHECK(drawn >= 1 ? lawfit::converged(s) : s == Status::BAD_INPUT);
    CHECK_EQ(p.status[0], p.status[1]);
    double expected = 0.0;
    for (int i = 0; i < 40; ++i) {
        const double f = p.params[0] * std::exp(-p.params[1] * p.x[i]) + p.params[2];
        expected += lawfit::bootstrap_count(0, 0, 3, i / 10) * (f - p.y[i]) * (f - p.y[i]);
    }
    CHECK_NEAR(p.cost[0], 0.5 * expected, 1e-10, 1e-300);
    Problem bad(40, 1);
    bad.group.assign(40, 0);
    bad.group[7] = -1;  // negative group id
    bad.resample = {0};
    bad.solve();
    CHECK_EQ(bad.status[0], static_cast<int>(Status::BAD_INPUT));
}

LF_TEST(evaluate_only_reports_the_start_cost) {
    Problem p(30, 2);
    p.p0 = {1.0, 1.0, 0.0, 2.0, 0.7, 0.3};
    p.solve([](lawfit::BatchView& b) { b.evaluate_only = true; });
    for (int k = 0; k < 2; ++k) {
        CHECK_EQ(p.status[k], static_cast<int>(Status::NOT_RUN));
        CHECK_EQ(p.nfev[k], 1);
        double c = 0.0;
        for (int i = 0; i < 30; ++i) {
            const double f = p.p0[3 * k] * std::exp(-p.p0[3 * k + 1] * p.x[i]) + p.p0[3 * k + 2];
            c += (f - p.y[i]) * (f - p.y[i]);
        }
        CHECK_NEAR(p.cost[k], 0.5 * c, 1e-12, 1e-300);
        for (int j = 0; j < 3; ++j) CHECK_EQ(p.params[3 * k + j], p.p0[3 * k + j]);
    }
    Problem bad(30, 1);
    bad.solve([](lawfit::BatchView& b) { b.objective.delta = 0.0; });  // invalid loss scale
    CHECK_EQ(bad.status[0], static_cast<int>(Status::BAD_INPUT));
}

// The Levenberg-Marquardt iteration (lm.hpp) on small problems with known
// answers, through a dense evaluator written here: convergence, bounds (active
// set), fixed parameters, non-finite models, evaluation budget, stalls.
#define LAWFIT_TEST_MAIN
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "harness.hpp"
#include "lawfit/lm.hpp"

using lawfit::LmOptions;
using lawfit::LmOutcome;
using lawfit::LmWork;
using lawfit::Status;

namespace {

const double kInf = std::numeric_limits<double>::infinity();

// Residuals r(x) (M values) and Jacobian J (M x P, row-major) of a problem.
using ResidualFn = std::function<bool(const double* x, std::vector<double>& r, std::vector<double>& J)>;

// The evaluator contract of lm_solve: cost = 1/2 |r|^2, g = J^T r, A = J^T J
// over the free parameters (rows and columns of held ones zero).
struct DenseEvaluator {
    int P, M;
    ResidualFn fn;
    int calls = 0;
    std::vector<double> r{}, J{};

    bool operator()(const double* x, std::uint32_t free_mask, double* A, double* g, double* cost) {
        ++calls;
        r.assign(M, 0.0);
        J.assign(M * P, 0.0);
        if (!fn(x, r, J)) return false;
        double c = 0.0;
        for (double v : r) c += v * v;
        *cost = 0.5 * c;
        for (int j = 0; j < P; ++j) {
            g[j] = 0.0;
            for (int k = 0; k < P; ++k) A[j * P + k] = 0.0;
            if (!((free_mask >> j) & 1u)) continue;
            for (int i = 0; i < M; ++i) g[j] += J[i * P + j] * r[i];
        }
        for (int j = 0; j < P; ++j)
            for (int k = 0; k < P; ++k) {
                if (!((free_mask >> j) & 1u) || !((free_mask >> k) & 1u)) continue;
                for (int i = 0; i < M; ++i) A[j * P + k] += J[i * P + j] * J[i * P + k];
            }
        bool finite = std::isfinite(*cost);
        for (int j = 0; j < P; ++j) finite = finite && std::isfinite(g[j]);
        for (int j = 0; j < P * P; ++j) finite = finite && std::isfinite(A[j]);
        return finite;
    }
};

// y = a exp(-b t) + c at t_i = 0.1 i.
struct ExpDecay {
    std::vector<double> t, y;
    ExpDecay(int m, double a, double b, double c, double noise) {
        for (int i = 0; i < m; ++i) {
            t.push_back(0.1 * i);
            y.push_back(a * std::exp(-b * t.back()) + c + noise * std::sin(7.0 * i));
        }
    }
    ResidualFn fn() const {
        return [this](const double* x, std::vector<double>& r, std::vector<double>& J) {
            for (std::size_t i = 0; i < t.size(); ++i) {
                const double e = std::exp(-x[1] * t[i]);
                r[i] = x[0] * e + x[2] - y[i];
                J[i * 3 + 0] = e;
                J[i * 3 + 1] = -x[0] * t[i] * e;
                J[i * 3 + 2] = 1.0;
            }
            return true;
        };
    }
};

struct Fit {
    LmOutcome out;
    std::vector<double> x;
    int calls;
};

Fit solve(int P, int M, ResidualFn fn, std::vector<double> x0, std::uint32_t free_mask = 0xffffu,
          std::vector<double> lo = {}, std::vector<double> hi = {}, LmOptions opt = LmOptions()) {
    if (lo.empty()) lo.assign(P, -kInf);
    if (hi.empty()) hi.assign(P, kInf);
    free_mask &= (1u << P) - 1u;
    DenseEvaluator eval{P, M, std::move(fn)};
    LmWork work;
    Fit f;
    f.x = std::move(x0);
    f.out = lawfit::lm_solve(eval, P, f.x.data(), free_mask, lo.data(), hi.data(), opt, work);
    f.calls = eval.calls;
    return f;
}

int as_int(Status s) { return static_cast<int>(s); }

}  // namespace

LF_TEST(exponential_decay_exact_data) {
    const ExpDecay p(40, 2.5, 1.3, 0.5, 0.0);
    const Fit f = solve(3, 40, p.fn(), {1.0, 1.0, 0.0});
    CHECK(lawfit::converged(f.out.status));
    CHECK_NEAR(f.x[0], 2.5, 1e-8, 0.0);
    CHECK_NEAR(f.x[1], 1.3, 1e-8, 0.0);
    CHECK_NEAR(f.x[2], 0.5, 1e-8, 0.0);
    CHECK(f.out.cost < 1e-20);
    CHECK_EQ(f.out.nfev, f.calls);  // every evaluation is counted
    CHECK(f.out.nit >= 1 && f.out.nit < f.out.nfev + 1);
}

LF_TEST(exponential_decay_noisy_data_is_stationary) {
    const ExpDecay p(60, 2.5, 1.3, 0.5, 0.01);
    const Fit f = solve(3, 60, p.fn(), {1.0, 1.0, 0.0});
    CHECK(lawfit::converged(f.out.status));
    // At the least-squares solution J^T r = 0 (relative to |J| |r|).
    DenseEvaluator eval{3, 60, p.fn()};
    double A[9], g[3], cost;
    CHECK(eval(f.x.data(), 7u, A, g, &cost));
    CHECK_NEAR(cost, f.out.cost, 1e-12, 0.0);
    for (int j = 0; j < 3; ++j) CHECK(std::fabs(g[j]) <= 1e-6 * std::sqrt(A[4 * j] * 2.0 * cost));
    // Refitting from the solution stops at once.
    const Fit again = solve(3, 60, p.fn(), f.x);
    CHECK(lawfit::converged(again.out.status));
    CHECK(again.out.nfev <= 3);
    // ftol stops within sqrt(ftol) of the minimum in the worst case; here it
    // is much closer, and the refit moves by less than the fit's own accuracy.
    for (int j = 0; j < 3; ++j) CHECK_NEAR(again.x[j], f.x[j], 1e-7, 1e-12);
    CHECK(again.out.cost <= f.out.cost);
}

LF_TEST(rosenbrock_as_least_squares) {
    // r = (10 (x2 - x1^2), 1 - x1): minimum 0 at (1, 1); the classic start.
    ResidualFn fn = [](const double* x, std::vector<double>& r, std::vector<double>& J) {
        r[0] = 10.0 * (x[1] - x[0] * x[0]);
        r[1] = 1.0 - x[0];
        J[0] = -20.0 * x[0];
        J[1] = 10.0;
        J[2] = -1.0;
        J[3] = 0.0;
        return true;
    };
    const Fit f = solve(2, 2, fn, {-1.2, 1.0});
    CHECK(lawfit::converged(f.out.status));
    CHECK_NEAR(f.x[0], 1.0, 1e-10, 0.0);
    CHECK_NEAR(f.x[1], 1.0, 1e-10, 0.0);
    CHECK(f.out.cost < 1e-25);
    CHECK(f.out.nfev < 100);
}

LF_TEST(linear_model_matches_the_normal_equations) {
    // y = p0 + p1 t exactly solvable in closed form; LM must land on it.
    std::vector<double> t, y;
    for (int i = 0; i < 25; ++i) {
        t.push_back(i * 0.3);
        y.push_back(1.5 - 0.7 * t.back() + 0.05 * std::cos(3.0 * i));
    }
    ResidualFn fn = [&](const double* x, std::vector<double>& r, std::vector<double>& J) {
        for (int i = 0; i < 25; ++i) {
            r[i] = x[0] + x[1] * t[i] - y[i];
            J[2 * i] = 1.0;
            J[2 * i + 1] = t[i];
        }
        return true;
    };
    double st = 0, sy = 0, stt = 0, sty = 0;
    for (int i = 0; i < 25; ++i) {
        st += t[i];
        sy += y[i];
        stt += t[i] * t[i];
        sty += t[i] * y[i];
    }
    const double slope = (25 * sty - st * sy) / (25 * stt - st * st);
    const double icept = (sy - slope * st) / 25;
    const Fit f = solve(2, 25, fn, {0.0, 0.0});
    CHECK(lawfit::converged(f.out.status));
    CHECK_NEAR(f.x[0], icept, 1e-10, 1e-12);
    CHECK_NEAR(f.x[1], slope, 1e-10, 1e-12);
}

LF_TEST(bounds_active_at_the_solution) {
    // y = a exp(-b t) with true b = 1.3 but b <= 0.5: the fit must end on the
    // bound with a the best amplitude for b = 0.5, and the gradient in b
    // pointing out of the box (KKT).
    const ExpDecay p(30, 2.0, 1.3, 0.0, 0.0);
    ResidualFn fn = [&p](const double* x, std::vector<double>& r, std::vector<double>& J) {
        for (std::size_t i = 0; i < p.t.size(); ++i) {
            const double e = std::exp(-x[1] * p.t[i]);
            r[i] = x[0] * e - p.y[i];
            J[2 * i] = e;
            J[2 * i + 1] = -x[0] * p.t[i] * e;
        }
        return true;
    };
    const Fit f = solve(2, 30, fn, {1.0, 0.1}, 3u, {0.0, 0.0}, {10.0, 0.5});
    CHECK(lawfit::converged(f.out.status));
    CHECK_EQ(f.x[1], 0.5);  // exactly on the bound, never outside
    double num = 0.0, den = 0.0;
    for (std::size_t i = 0; i < p.t.size(); ++i) {
        const double e = std::exp(-0.5 * p.t[i]);
        num += e * p.y[i];
        den += e * e;
    }
    CHECK_NEAR(f.x[0], num / den, 1e-8, 0.0);
    DenseEvaluator eval{2, 30, fn};
    double A[4], g[2], cost;
    CHECK(eval(f.x.data(), 3u, A, g, &cost));
    CHECK(g[1] < 0.0);  // the cost still falls towards larger b
}

// Karush-Kuhn-Tucker conditions of a bounded least-squares solution: the
// gradient of each parameter is ~0 inside, points out of the box on a bound.
void check_kkt(const Fit& f, DenseEvaluator eval, const std::vector<double>& lo, const std::vector<double>& hi) {
    const int P = eval.P;
    std::vector<double> A(P * P), g(P);
    double cost;
    CHECK(eval(f.x.data(), (1u << P) - 1u, A.data(), g.data(), &cost));
    for (int j = 0; j < P; ++j) {
        const double scale = std::sqrt(A[j * P + j] * 2.0 * cost) + 1e-300;
        if (f.x[j] == lo[j])
            CHECK(g[j] >= -1e-6 * scale);
        else if (f.x[j] == hi[j])
            CHECK(g[j] <= 1e-6 * scale);
        else if (!CHECK(std::fabs(g[j]) <= 1e-5 * scale))
            std::fprintf(stderr, "  x[%d] = %.17g, g = %g, cosine %g, status %d\n", j, f.x[j], g[j], g[j] / scale,
                         static_cast<int>(f.out.status));
    }
}

LF_TEST(bounds_respected_on_every_evaluation) {
    const ExpDecay p(30, 2.0, 1.3, 0.5, 0.0);
    const std::vector<double> lo{0.5, 1.0, 0.6}, hi{1.5, 4.0, 2.0};
    bool inside = true;
    auto inner = p.fn();
    ResidualFn fn = [&](const double* x, std::vector<double>& r, std::vector<double>& J) {
        for (int j = 0; j < 3; ++j) inside = inside && x[j] >= lo[j] && x[j] <= hi[j];
        return inner(x, r, J);
    };
    LmOptions tight;  // ftol stops within ~sqrt(ftol) of stationarity: ask for more
    tight.ftol = tight.xtol = 1e-13;
    const Fit f = solve(3, 30, fn, {1.0, 2.0, 1.0}, 7u, lo, hi, tight);
    CHECK(inside);
    CHECK(lawfit::converged(f.out.status) || f.out.status == Status::STALLED);
    CHECK_EQ(f.x[0], 1.5);  // the amplitude wants 2.0
    check_kkt(f, DenseEvaluator{3, 30, inner}, lo, hi);
}

LF_TEST(fixed_parameters_never_move) {
    const ExpDecay p(40, 2.5, 1.3, 0.5, 0.01);
    // Hold c at 0.4 (not its best value): a and b fit around it.
    const Fit f = solve(3, 40, p.fn(), {1.0, 1.0, 0.4}, 3u);
    CHECK(lawfit::converged(f.out.status));
    CHECK_EQ(f.x[2], 0.4);
    CHECK(std::fabs(f.x[0] - 2.5) < 0.2 && std::fabs(f.x[1] - 1.3) < 0.2);
    // Nothing free: one evaluation, stationary by definition.
    const Fit none = solve(3, 40, p.fn(), {1.0, 1.0, 0.4}, 0u);
    CHECK_EQ(as_int(none.out.status), as_int(Status::CONVERGED_GTOL));
    CHECK_EQ(none.out.nfev, 1);
    CHECK(none.x[0] == 1.0 && none.x[1] == 1.0 && none.x[2] == 0.4);
}

LF_TEST(non_finite_start_is_reported) {
    ResidualFn nan_model = [](const double*, std::vector<double>& r, std::vector<double>&) {
        r[0] = std::numeric_limits<double>::quiet_NaN();
        return true;
    };
    const Fit f = solve(1, 3, nan_model, {1.0});
    CHECK_EQ(as_int(f.out.status), as_int(Status::NON_FINITE));
    CHECK_EQ(f.out.nfev, 1);
    CHECK_EQ(f.x[0], 1.0);
    ResidualFn refused = [](const double*, std::vector<double>&, std::vector<double>&) { return false; };
    CHECK_EQ(as_int(solve(2, 3, refused, {1.0, 2.0}).out.status), as_int(Status::NON_FINITE));
}

LF_TEST(non_finite_trial_points_are_rejected_not_fatal) {
    // sqrt(a t) - y: undefined for a < 0, which a full Gauss-Newton step from
    // far away proposes.  The iteration must shrink its region and recover.
    std::vector<double> t, y;
    for (int i = 1; i <= 20; ++i) {
        t.push_back(i);
        y.push_back(std::sqrt(0.01 * i));
    }
    int refusals = 0;
    ResidualFn fn = [&](const double* x, std::vector<double>& r, std::vector<double>& J) {
        if (!(x[0] > 0.0)) {
            ++refusals;
            return false;
        }
        for (int i = 0; i < 20; ++i) {
            const double s = std::sqrt(x[0] * t[i]);
            r[i] = s - y[i];
            J[i] = 0.5 * t[i] / s;
        }
        return true;
    };
    const Fit f = solve(1, 20, fn, {50.0});
    CHECK(lawfit::converged(f.out.status));
    CHECK_NEAR(f.x[0], 0.01, 1e-8, 0.0);
    CHECK(refusals >= 1);  // the test does exercise a rejected trial point
}

LF_TEST(evaluation_budget) {
    const ExpDecay p(40, 2.5, 1.3, 0.5, 0.01);
    LmOptions opt;
    opt.max_nfev = 3;
    const Fit f = solve(3, 40, p.fn(), {10.0, 0.01, -5.0}, 7u, {}, {}, opt);
    CHECK_EQ(as_int(f.out.status), as_int(Status::MAX_EVALUATIONS));
    CHECK_EQ(f.out.nfev, 3);
    CHECK_EQ(f.calls, 3);
    // The default budget is MINPACK's 100 (n + 1).
    opt.max_nfev = 0;
    opt.ftol = opt.xtol = 0.0;
    opt.gtol = 0.0;
    const Fit g = solve(3, 40, p.fn(), {1.0, 1.0, 0.0}, 7u, {}, {}, opt);
    CHECK(g.out.nfev <= 400);
    CHECK(g.out.status == Status::MAX_EVALUATIONS || g.out.status == Status::STALLED ||
          lawfit::converged(g.out.status));
}

LF_TEST(exact_fit_stops_with_ftol) {
    // r = x - 3 reaches exactly zero in one Gauss-Newton step.
    ResidualFn fn = [](const double* x, std::vector<double>& r, std::vector<double>& J) {
        r[0] = x[0] - 3.0;
        J[0] = 1.0;
        return true;
    };
    const Fit f = solve(1, 1, fn, {1.0});
    CHECK_EQ(f.x[0], 3.0);
    CHECK_EQ(f.out.cost, 0.0);
    CHECK(lawfit::converged(f.out.status));
}

LF_TEST(indefinite_model_matrix_is_singular) {
    // An evaluator whose A (eigenvalue -1e9) no damping within the trust-region
    // iteration's reach makes positive definite: SINGULAR, not an endless loop.
    struct Indefinite {
        bool operator()(const double*, std::uint32_t, double* A, double* g, double* cost) {
            A[0] = A[3] = 1.0;
            A[1] = A[2] = 1e9;
            g[0] = g[1] = 1.0;
            *cost = 1.0;
            return true;
        }
    } eval;
    LmWork work;
    double x[2] = {1.0, 1.0}, lo[2] = {-kInf, -kInf}, hi[2] = {kInf, kInf};
    const LmOutcome o = lawfit::lm_solve(eval, 2, x, 3u, lo, hi, LmOptions(), work);
    CHECK_EQ(as_int(o.status), as_int(Status::SINGULAR));
    CHECK(x[0] == 1.0 && x[1] == 1.0);
}

// Regression: after a rejected step lmder shrinks the region to
// temp * min(Delta, 10 |D p|) with temp = 0.5 dirder / (dirder + 0.5 actred),
// where lmder's dirder = -(|J p|^2 + par |D p|^2) / |f|^2 = g.p / (2 cost)
// (MINPACK lmder.f, the "ratio .le. p25" branch).  Problem: r(x) = x - 2 + c x^2
// from x = 0 with c^2 = 3/4: the Gauss-Newton step p = 2 has |D p| = 2 and
// raises the cost from 2 to 6 (actred = -2, dirder = -1), so temp = 1/4 and
// the next trial step must have length Delta = 0.5 (within the 10 % the
// trust-region solve allows).  With dirder taken as g.p / cost (twice lmder's)
// temp is 1/3 and the step 0.67.
LF_TEST(rejected_step_shrinks_region_by_lmder_rule) {
    const double c = std::sqrt(0.75);
    std::vector<double> trials;
    ResidualFn fn = [&](const double* x, std::vector<double>& r, std::vector<double>& J) {
        trials.push_back(x[0]);
        r[0] = x[0] - 2.0 + c * x[0] * x[0];
        J[0] = 1.0 + 2.0 * c * x[0];
        return true;
    };
    LmOptions opt;
    opt.max_nfev = 3;
    solve(1, 1, fn, {0.0}, 1u, {}, {}, opt);
    if (!CHECK_EQ(trials.size(), std::size_t{3})) return;
    CHECK_EQ(trials[1], 2.0);  // the Gauss-Newton step, rejected
    const double step = std::fabs(trials[2]);
    if (!CHECK(step >= 0.45 && step <= 0.55))
        std::fprintf(stderr, "  second trial step %.6f; lmder's rule gives 0.5 +- 10%%\n", step);
}

LF_TEST(same_inputs_same_bits) {
    const ExpDecay p(50, 2.5, 1.3, 0.5, 0.02);
    const Fit a = solve(3, 50, p.fn(), {1.0, 1.0, 0.0});
    const Fit b = solve(3, 50, p.fn(), {1.0, 1.0, 0.0});
    for (int j = 0; j < 3; ++j) CHECK_SAME_BITS(a.x[j], b.x[j]);
    CHECK_SAME_BITS(a.out.cost, b.out.cost);
    CHECK_EQ(a.out.nfev, b.out.nfev);
}

namespace {
// Random scaled system S (lower triangle, leading dimension 8), b, and a
// region/Levenberg parameter spread so that every branch of the step is taken:
// the Gauss-Newton step fitting or not, lambda = par or raised by lmpar's lower
// bound, indefinite S (no Gauss-Newton step), and par = 0.
template <int NP>
void random_step_inputs(std::mt19937_64& gen, int n, lawfit::LmWorkN<NP>& w, double* delta, double* par) {
    std::normal_distribution<double> nd;
    std::uniform_real_distribution<double> u(-3.0, 3.0);
    double G[NP * NP];
    for (int i = 0; i < n * n; ++i) G[i] = nd(gen);
    const double shift = std::uniform_int_distribution<int>(0, 5)(gen) == 0 ? -1.0 : 1e-3;
    for (int a = 0; a < n; ++a)
        for (int c = 0; c <= a; ++c) {
            double s = a == c ? shift : 0.0;
            for (int k = 0; k < n; ++k) s += G[a * n + k] * G[c * n + k];
            w.S[a * NP + c] = s;
        }
    for (int a = 0; a < n; ++a) w.b[a] = nd(gen) * std::pow(10.0, u(gen));
    *delta = std::pow(10.0, u(gen));
    *par = std::uniform_int_distribution<int>(0, 4)(gen) == 0 ? 0.0 : std::pow(10.0, u(gen));
}

// The host's speculative factorisation changes no bit of a step: the first
// call (a new system) and a second on the same system (a rejected step, new
// region and par) with and without it.
template <int M>
int check_speculative_step(int n, std::mt19937_64& gen) {
    int first_lambda_was_par = 0;
    for (int trial = 0; trial < 400; ++trial) {
        lawfit::LmWorkN<8> a{}, b{};
        double delta, par;
        random_step_inputs(gen, n, a, &delta, &par);
        b = a;
        lawfit::detail::GaussNewton ga, gb;
        for (int call = 0; call < 2; ++call) {
            const bool same = call == 1;
            double pa = par, pb = par;
            const bool ra = lawfit::detail::trust_region_step<8, M, true>(a, n, delta, &pa, &ga, same);
            const bool rb = lawfit::detail::trust_region_step<8, M, false>(b, n, delta, &pb, &gb, same);
            CHECK_EQ(ra, rb);
            CHECK_SAME_BITS(pa, pb);
            CHECK_EQ(ga.full_rank, gb.full_rank);
            CHECK_SAME_BITS(ga.zn, gb.zn);
            CHECK_SAME_BITS(ga.tn, gb.tn);
            for (int k = 0; k < n && ra; ++k) CHECK_SAME_BITS(a.z[k], b.z[k]);
            const double paru = lawfit::detail::norm(a.b, n) / delta;
            first_lambda_was_par += !same && ra && par > 0.0 && pa == (par < paru ? par : paru);
            delta *= 0.3;
            par = pa > 0.0 ? pa * 3.0 : 0.5;
        }
    }
    return first_lambda_was_par;
}
}  // namespace

LF_TEST(speculative_damped_factorisation_keeps_every_bit) {
    std::mt19937_64 gen(7);
    int hits = 0;
    for (int n = 1; n <= 8; ++n) hits += check_speculative_step<0>(n, gen);
    hits += check_speculative_step<5>(5, gen);
    hits += check_speculative_step<3>(3, gen);
    CHECK(hits > 100);  // the speculative system was the one used, many times
}

LF_TEST(damped_cholesky_solve_lanes_equals_one_system_at_a_time) {
    std::mt19937_64 gen(11);
    for (int n = 1; n <= 8; ++n)
        for (int trial = 0; trial < 50; ++trial) {
            lawfit::LmWorkN<8> w{};
            double delta, par;
            random_step_inputs(gen, n, w, &delta, &par);
            const double lams[2] = {0.0, par};
            double L[2][64], inv[2][8], z[2][8];
            double* Ls[2] = {L[0], L[1]};
            double* invs[2] = {inv[0], inv[1]};
            double* zs[2] = {z[0], z[1]};
            bool ok[2];
            lawfit::damped_cholesky_solve_lanes<2, 0>(w.S, w.b, n, 8, lams, Ls, invs, zs, ok);
            for (int l = 0; l < 2; ++l) {
                double R[64], rinv[8], rz[8];
                for (int a = 0; a < n; ++a) {
                    for (int c = 0; c <= a; ++c) R[a * 8 + c] = w.S[a * 8 + c];
                    R[a * 8 + a] += lams[l];
                }
                const bool rok = lawfit::cholesky(R, n, 8, rinv);
                CHECK_EQ(ok[l], rok);
                if (!rok) continue;
                for (int a = 0; a < n; ++a) rz[a] = -w.b[a];
                lawfit::cholesky_solve(R, rinv, n, 8, rz);
                for (int a = 0; a < n; ++a) {
                    CHECK_SAME_BITS(inv[l][a], rinv[a]);
                    CHECK_SAME_BITS(z[l][a], rz[a]);
                    for (int c = 0; c <= a; ++c) CHECK_SAME_BITS(L[l][a * 8 + c], R[a * 8 + c]);
                }
            }
        }
}

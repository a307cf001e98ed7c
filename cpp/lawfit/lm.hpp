// One Levenberg-Marquardt solve, shared by every back end and every kind of
// evaluator (law programs, Python callbacks, whitened dense problems).
//
// The algorithm is Moré's trust-region form of LM, the one MINPACK's lmder
// implements (Moré 1978, "The Levenberg-Marquardt algorithm: implementation
// and theory", Lecture Notes in Math. 630): each step minimises the linear
// model within ||D p|| <= Delta, with D the Marquardt (1963) column scaling
// D_j = the largest column norm of J seen so far (Moré eq. 6.3).  The step is
// the Gauss-Newton step when it fits in the region, otherwise
// (A + lambda D^2) p = -g with lambda found by Moré's Newton iteration on
// ||D p(lambda)|| = Delta (eq. 5.5).  The region grows and shrinks by
// lmder's rules, and the stopping rules are lmder's (ftol on actual and
// predicted relative reduction, xtol on Delta, gtol on the cosine between r
// and the columns of J, a cap on evaluations).  Unlike lmder, the linear
// algebra uses the normal equations A = J^T W J (Cholesky in Jacobi-scaled
// variables), so the Jacobian never has to be stored.
//
// Bounds: projected steps with an active set.  A parameter sitting on a bound
// whose gradient points out of the box is held for that step; the others take
// the trust-region step, which is then clipped into [lo, hi].  At a solution
// this satisfies the KKT conditions scipy's 'trf' reaches.
#pragma once
#include <cmath>
#include <cstdint>

#include "config.hpp"
#include "linalg.hpp"
#include "opcodes.hpp"
#include "status.hpp"

namespace lawfit {

struct LmOptions {
    double ftol = 1.49012e-8;  // scipy.optimize.leastsq defaults
    double xtol = 1.49012e-8;
    double gtol = 0.0;
    int max_nfev = 0;          // 0: 100 * (n_free + 1), as MINPACK lmder
    double factor = 100.0;     // initial Delta = factor * ||D x0|| (lmder's default)
};

struct LmOutcome {
    double cost = 0.0;
    int nit = 0;
    int nfev = 0;
    Status status = Status::NOT_RUN;
};

// Working storage for laws of up to NP parameters; lives wherever the back
// end wants (stack, thread-local, GPU local memory).
template <int NP>
struct LmWorkN {
    static constexpr int kParams = NP;
    double A[NP * NP], g[NP];
    double An[NP * NP], gn[NP];
    double S[NP * NP], L[NP * NP];
    double b[NP], z[NP], t[NP], inv_l[NP];
    double xn[NP], diag[NP];
    double z0[NP];  // the Gauss-Newton step of the current system (trust_region_step)
    int idx[NP];
};
using LmWork = LmWorkN<kMaxParams>;

namespace detail {
LAWFIT_HD inline double clamp(double v, double lo, double hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

LAWFIT_HD inline double norm(const double* v, int m) {
    double s = 0.0;
    for (int a = 0; a < m; ++a) s += v[a] * v[a];
    return std::sqrt(s);
}

// Trust-region subproblem in scaled variables: z minimises
// 1/2 z^T S z + b^T z subject to ||z|| <= delta (approximately: within 10%).
// S is m x m (lower triangle used, leading dimension NP); par is the
// Levenberg parameter, used as the starting guess and updated.
// Returns false when no damped system could be factorised.  With `same`,
// S and b are those of the previous call (its step was rejected: x, A and g
// did not change), so the Gauss-Newton step and the numbers lmpar derives
// from it (kept in w.z0 and *gn) are reused instead of factorising again.
//
// lambda is found as MINPACK's lmpar finds it (Moré 1978, sections 5-7;
// Moré, Garbow & Hillstrom 1980, lmpar): with phi(lambda) = ||z(lambda)|| -
// delta, the iteration is kept inside bounds [l, u] that bracket the root:
// u = ||b|| / delta (since ||z(lambda)|| <= ||b|| / lambda) and, when the
// Gauss-Newton system is positive definite, l = -phi(0) / phi'(0) (the
// first Newton step from 0, a lower bound because phi is convex, eq. 5.6);
// lambda starts from the previous step's value clamped into [l, u], and each
// iteration takes the Newton step on 1/||z|| = 1/delta (eq. 5.5) from the
// factorisation it already has, raising l or lowering u by the sign of phi.
// Starting at l rather than at a fixed fraction of u makes most constrained
// steps take one or two factorisations.  lmpar's stopping rules: |phi| <=
// delta / 10, or (no lower bound) phi increasing while negative, or 10
// iterations.
// The Gauss-Newton step of one scaled system, as trust_region_step needs it.
struct GaussNewton {
    bool full_rank = false;  // S factorised (positive definite)
    double zn = 0.0;         // ||z0||
    double tn = 0.0;         // ||L^-1 z0 / ||z0|| || (lmpar's phi'(0) up to a factor)
};

// M > 0: the number of moving parameters m is the constant M, so that the
// compiler unrolls the small factorisations and solves completely (the same
// operations in the same order as for a run-time m: the same bits).
// kSpeculate (host only; tests compare both settings bit for bit): factorise
// the likely first damped system beside the Gauss-Newton one, see below.
template <int NP, int M = 0, bool kSpeculate = true>
LAWFIT_HD bool trust_region_step(LmWorkN<NP>& w, int m_run, double delta, double* par, GaussNewton* gn,
                                 bool same) {
    const int m = M > 0 ? M : m_run;
    const int ld = NP;
    const double dwarf = 2.2250738585072014e-308;  // MINPACK's smallest positive magnitude
    auto factor_and_solve = [&](double lambda) {
        for (int a = 0; a < m; ++a) {
            for (int c = 0; c <= a; ++c) w.L[a * ld + c] = w.S[a * ld + c];
            w.L[a * ld + a] += lambda;
        }
        if (!cholesky(w.L, m, ld, w.inv_l)) return false;
        for (int a = 0; a < m; ++a) w.z[a] = -w.b[a];
        cholesky_solve(w.L, w.inv_l, m, ld, w.z);
        return true;
    };
    // ||L^-1 z / ||z|| || from the current factorisation and step: the
    // Newton correction of lambda is lmpar's parc = phi / (delta tn^2).
    auto newton_norm = [&](double zn) {
        const double inv_zn = 1.0 / zn;
        for (int a = 0; a < m; ++a) w.t[a] = w.z[a] * inv_zn;
        forward_solve(w.L, w.inv_l, m, ld, w.t);
        return norm(w.t, m);
    };
    // lmpar's upper bound on lambda depends on b and delta only.
    const double gnorm = norm(w.b, m);
    double paru = gnorm / delta;
    if (paru == 0.0) paru = dwarf / (delta < 0.1 ? delta : 0.1);
#if !defined(__CUDA_ARCH__)
    // Host: when the previous step was damped (par > 0), the first damped
    // system is almost always S + lam_s I with lam_s = min(par, paru) (it is
    // unless lmpar's lower bound from the Gauss-Newton step exceeds par:
    // 99.7% of the damped steps on the Hitchhiker evaluate).  Factorising it
    // beside the Gauss-Newton system overlaps two chains of square roots and
    // divisions that would otherwise run one after the other; it is used only
    // when lambda turns out to be exactly lam_s, so the same operations give
    // the same bits.
    const double lam_s = *par < paru ? *par : paru;
    double spec_L[NP * NP], spec_inv[NP], spec_z[NP];
    bool spec_ok = false;
    const bool speculate = kSpeculate && !same && lam_s > 0.0;
#endif
    // Gauss-Newton step if it is defined and fits (lmder: within 10% of delta).
    if (!same) {
#if !defined(__CUDA_ARCH__)
        if (speculate) {
            bool ok[2];
            double* Ls[2] = {w.L, spec_L};
            double* invs[2] = {w.inv_l, spec_inv};
            double* zs[2] = {w.z, spec_z};
            const double lams[2] = {0.0, lam_s};
            damped_cholesky_solve_lanes<2, M>(w.S, w.b, m, ld, lams, Ls, invs, zs, ok);
            gn->full_rank = ok[0];
            spec_ok = ok[1];
        } else {
            gn->full_rank = factor_and_solve(0.0);
        }
#else
        gn->full_rank = factor_and_solve(0.0);
#endif
        gn->zn = gn->full_rank ? norm(w.z, m) : 0.0;
        gn->tn = 0.0;
        if (gn->full_rank) {
            for (int a = 0; a < m; ++a) w.z0[a] = w.z[a];
            if (gn->zn - delta > 0.1 * delta) gn->tn = newton_norm(gn->zn);
        }
    }
    const bool full_rank = gn->full_rank;
    double zn = gn->zn;
    double fp = zn - delta;
    if (full_rank && fp <= 0.1 * delta) {
        for (int a = 0; a < m; ++a) w.z[a] = w.z0[a];
        *par = 0.0;
        return true;
    }
    if (full_rank && gn->tn == 0.0) gn->tn = newton_norm(zn);  // z0 fitted the previous region
    double parl = full_rank ? ((fp / delta) / gn->tn) / gn->tn : 0.0;
    if (!full_rank) fp = INFINITY;  // no Gauss-Newton step to compare with
    double lambda = *par > parl ? *par : parl;
    lambda = lambda < paru ? lambda : paru;
#if !defined(__CUDA_ARCH__)
    // The speculative system is the first iteration's exactly when lambda = lam_s.
    bool use_spec = speculate && lambda == lam_s;
#endif
    bool have = false;
    double solved = 0.0;  // the lambda whose step w.z holds
    for (int it = 1;; ++it) {
        if (!(lambda > 0.0)) lambda = 1e-3 * paru > dwarf ? 1e-3 * paru : dwarf;
        bool factored;
#if !defined(__CUDA_ARCH__)
        if (use_spec) {  // lambda = lam_s > 0: S + lambda I factorised and solved above
            use_spec = false;
            factored = spec_ok;
            // Into w.L and w.z only now: until here they hold the Gauss-Newton
            // system, which a later call may still need (its tn).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // use_spec implies the spec_* were written
#endif
            for (int a = 0; a < m; ++a) {
                for (int c = 0; c <= a; ++c) w.L[a * ld + c] = spec_L[a * ld + c];
                w.inv_l[a] = spec_inv[a];
                w.z[a] = spec_z[a];
            }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
        } else {
            factored = factor_and_solve(lambda);
        }
#else
        factored = factor_and_solve(lambda);
#endif
        if (!factored) {
            // Not in lmpar (its QR cannot fail): S + lambda I is not
            // numerically positive definite, so lambda is too small.
            parl = lambda > parl ? lambda : parl;
            if (it >= 10) break;
            lambda *= 10.0;
            continue;
        }
        have = true;
        solved = lambda;
        const double prev = fp;
        zn = norm(w.z, m);
        fp = zn - delta;
        if (std::fabs(fp) <= 0.1 * delta || (parl == 0.0 && fp <= prev && prev < 0.0) || it >= 10) break;
        const double tn = newton_norm(zn);
        const double parc = ((fp / delta) / tn) / tn;
        if (fp > 0.0) parl = lambda > parl ? lambda : parl;
        if (fp < 0.0) paru = lambda < paru ? lambda : paru;
        lambda = lambda + parc > parl ? lambda + parc : parl;
    }
    if (!have) return false;
    *par = solved;
    return true;
}

// trust_region_step with m as a compile-time constant where m is small (the
// laws of the catalog), else with m at run time.
template <int NP, int M = 1>
LAWFIT_HD bool trust_region_step_fixed(LmWorkN<NP>& w, int m, double delta, double* par, GaussNewton* gn,
                                       bool same) {
    constexpr int kMaxFixed = NP < 8 ? NP : 8;
    if constexpr (M <= kMaxFixed) {
        if (m == M) return trust_region_step<NP, M>(w, m, delta, par, gn, same);
        return trust_region_step_fixed<NP, M + 1>(w, m, delta, par, gn, same);
    } else {
        return trust_region_step<NP, 0>(w, m, delta, par, gn, same);
    }
}
}  // namespace detail

namespace detail {
// lm_solve's iteration.  kP > 0: all kP parameters are free (P = n = kP,
// idx[a] = a), known at compile time so that the loops over parameters unroll;
// the same operations in the same order as with kP = 0 (any P and mask).
template <int kP, class Eval, int NP>
LAWFIT_HD LmOutcome lm_iterate(Eval& eval, int P_run, double* x, std::uint32_t free_mask,
                               const double* lo, const double* hi, const LmOptions& opt,
                               LmWorkN<NP>& w) {
    LmOutcome out;
    const int P = kP > 0 ? kP : P_run;
    if (P > NP) {
        out.status = Status::BAD_INPUT;
        return out;
    }
    int n = 0;
    for (int j = 0; j < P; ++j)
        if ((free_mask >> j) & 1u) w.idx[n++] = j;
    if (kP > 0) n = kP;
    auto idx = [&w](int a) { return kP > 0 ? a : w.idx[a]; };
    const int max_nfev = opt.max_nfev > 0 ? opt.max_nfev : 100 * (n + 1);
    const double eps = 2.220446049250313e-16;

    // J^T W J and J^T W r at x, and at the trial point: an accepted step
    // swaps the pointers instead of copying (w.A / w.g hold them on return).
    double *A = w.A, *g = w.g, *An = w.An, *gn = w.gn;
    double f = 0.0;
    out.nfev = 1;
    if (!eval(x, free_mask, A, g, &f)) {
        out.status = Status::NON_FINITE;
        out.cost = f;
        return out;
    }
    out.cost = f;
    if (n == 0) {
        out.status = Status::CONVERGED_GTOL;  // nothing free: trivially stationary
        return out;
    }
    // Column norms sqrt(A_jj) of the current A (the gtol test's), and 1 / D_j:
    // both change only when a step is accepted, so they are kept, not redone
    // every iteration (the same operations on the same numbers: the same bits).
    double col_norm[NP], inv_diag[NP];
    for (int a = 0; a < n; ++a) {
        const double d = std::sqrt(A[idx(a) * P + idx(a)]);
        col_norm[a] = d;
        w.diag[a] = d > 0.0 ? d : 1.0;
        inv_diag[a] = 1.0 / w.diag[a];
    }
    double xnorm = 0.0;
    for (int a = 0; a < n; ++a) xnorm += (w.diag[a] * x[idx(a)]) * (w.diag[a] * x[idx(a)]);
    xnorm = std::sqrt(xnorm);
    double delta = opt.factor * xnorm;
    if (!(delta > 0.0)) delta = opt.factor;
    double par = 0.0;
    bool first = true;
    int act[NP], m = 0;
    double inv_d[NP];
    // The last step was rejected: x, A and g, hence the active set and the
    // scaled system, are unchanged (trust_region_step reuses its GN step).
    bool same = false;
    detail::GaussNewton gauss_newton;

    while (true) {
        if (f == 0.0) {  // exact fit: no relative reduction is possible
            out.status = Status::CONVERGED_FTOL;
            break;
        }
        // Active set and the projected-gradient gtol test.
        if (!same) {
            m = 0;
            double gnorm = 0.0;
            const double rnorm = std::sqrt(2.0 * f);
            for (int a = 0; a < n; ++a) {
                const int j = idx(a);
                const bool held = (x[j] <= lo[j] && g[j] > 0.0) || (x[j] >= hi[j] && g[j] < 0.0);
                if (held) continue;
                act[m++] = a;
                const double cn = col_norm[a];
                // gnorm only grows: once above gtol the test's outcome is settled.
                if (cn > 0.0 && gnorm <= opt.gtol) {
                    const double c = std::fabs(g[j]) / (cn * rnorm);
                    gnorm = c > gnorm ? c : gnorm;
                }
            }
            if (gnorm <= opt.gtol) {
                out.status = Status::CONVERGED_GTOL;
                break;
            }
            // Scaled system S = D^-1 A D^-1, b = D^-1 g over the moving parameters.
            for (int a = 0; a < m; ++a) inv_d[a] = inv_diag[act[a]];
            for (int a = 0; a < m; ++a) {
                const int ja = idx(act[a]);
                for (int c = 0; c <= a; ++c)
                    w.S[a * NP + c] = A[ja * P + idx(act[c])] * (inv_d[a] * inv_d[c]);
                w.b[a] = g[ja] * inv_d[a];
            }
        }
#if defined(__CUDA_ARCH__)  // the device keeps the run-time sized step: the same bits, far less code to compile
        if (!detail::trust_region_step<NP, 0>(w, m, delta, &par, &gauss_newton, same)) {
#else
        if (!detail::trust_region_step_fixed(w, m, delta, &par, &gauss_newton, same)) {
#endif
            out.status = Status::SINGULAR;
            break;
        }
        // Trial point, clipped into the bounds; s = actual step taken.
        for (int j = 0; j < P; ++j) w.xn[j] = x[j];
        for (int a = 0; a < m; ++a) {
            const int j = idx(act[a]);
            w.xn[j] = detail::clamp(x[j] + w.z[a] * inv_d[a], lo[j], hi[j]);
        }
        double pnorm2 = 0.0, gs = 0.0, sAs = 0.0;
        for (int a = 0; a < n; ++a) {
            const int j = idx(a);
            const double sj = w.xn[j] - x[j];
            pnorm2 += (w.diag[a] * sj) * (w.diag[a] * sj);
            gs += g[j] * sj;
            double As = 0.0;
            for (int c = 0; c < n; ++c) As += A[j * P + idx(c)] * (w.xn[idx(c)] - x[idx(c)]);
            sAs += sj * As;
        }
        const double pnorm = std::sqrt(pnorm2);
        if (first) {  // lmder: the first step also bounds the initial region
            delta = delta < pnorm ? delta : pnorm;
            first = false;
        }
        // Predicted relative reduction of the linear model along the step
        // actually taken: -(g.s + s.A.s/2) / f.
        const double prered = -(gs + 0.5 * sAs) / f;

        double fn = 0.0;
        const bool ok = eval(w.xn, free_mask, An, gn, &fn);
        ++out.nfev;
        const double actred = ok ? (f - fn) / f : -1.0;
        const double ratio = prered > 0.0 ? actred / prered : 0.0;

        // Update the trust region (lmder's rules).
        if (ratio <= 0.25) {
            double temp = 0.5;
            if (ok && actred < 0.0) {  // quadratic interpolation of the cost along s
                // lmder's dirder = g.p / |r|^2, and |r|^2 = 2 cost.
                const double dirder = 0.5 * gs / f;
                temp = 0.5 * dirder / (dirder + 0.5 * actred);
            }
            if (!ok || fn > 100.0 * f || !(temp >= 0.1)) temp = 0.1;
            const double cap = 10.0 * pnorm;
            delta = temp * (delta < cap ? delta : cap);
            par /= temp;
        } else if (par == 0.0 || ratio >= 0.75) {
            delta = 2.0 * pnorm;
            par *= 0.5;
        }
        same = !(ok && ratio >= 1e-4);
        if (!same) {
            for (int j = 0; j < P; ++j) x[j] = w.xn[j];
            double* t = A;
            A = An;
            An = t;
            t = g;
            g = gn;
            gn = t;
            f = fn;
            xnorm = 0.0;
            for (int a = 0; a < n; ++a) {
                const double d = std::sqrt(A[idx(a) * P + idx(a)]);
                col_norm[a] = d;
                if (d > w.diag[a]) {
                    w.diag[a] = d;
                    inv_diag[a] = 1.0 / d;
                }
                xnorm += (w.diag[a] * x[idx(a)]) * (w.diag[a] * x[idx(a)]);
            }
            xnorm = std::sqrt(xnorm);
        }
        ++out.nit;

        const bool ftol_ok = ok && std::fabs(actred) <= opt.ftol && prered <= opt.ftol && 0.5 * ratio <= 1.0;
        const bool xtol_ok = delta <= opt.xtol * xnorm;
        if (ftol_ok || xtol_ok) {
            out.status = ftol_ok && xtol_ok ? Status::CONVERGED_FTOL_XTOL
                         : ftol_ok          ? Status::CONVERGED_FTOL
                                            : Status::CONVERGED_XTOL;
            break;
        }
        if (out.nfev >= max_nfev) {
            out.status = Status::MAX_EVALUATIONS;
            break;
        }
        // lmder's info 6/7: tolerances below what double precision resolves.
        const bool no_reduction = ok && std::fabs(actred) <= eps && prered <= eps && 0.5 * ratio <= 1.0;
        if (no_reduction || delta <= eps * xnorm || !(delta > 0.0)) {
            out.status = Status::STALLED;
            break;
        }
    }
    if (A != w.A) {
        for (int j = 0; j < P * P; ++j) w.A[j] = A[j];
        for (int j = 0; j < P; ++j) w.g[j] = g[j];
    }
    out.cost = f;
    return out;
}

// lm_iterate<kP> for kP = M, M + 1, ... up to the smallest of NP and 8.
template <int M, class Eval, int NP>
LAWFIT_HD LmOutcome lm_iterate_fixed(Eval& eval, int P, double* x, std::uint32_t free_mask, const double* lo,
                                     const double* hi, const LmOptions& opt, LmWorkN<NP>& w) {
    constexpr int kMaxFixed = NP < 8 ? NP : 8;
    if constexpr (M <= kMaxFixed) {
        if (P == M) return lm_iterate<M>(eval, P, x, free_mask, lo, hi, opt, w);
        return lm_iterate_fixed<M + 1>(eval, P, x, free_mask, lo, hi, opt, w);
    } else {
        return lm_iterate<0>(eval, P, x, free_mask, lo, hi, opt, w);
    }
}
}  // namespace detail

// Minimises 1/2 sum w r^2 starting from x (all P parameters; only free_mask
// ones move).  On return x holds the best point found and w.A / w.g hold
// J^T W J and J^T W r there (P x P, zero rows for fixed parameters).
// `eval(x, free_mask, A, g, &cost)` returns false when anything is non-finite.
template <class Eval, int NP>
LAWFIT_HD LmOutcome lm_solve(Eval& eval, int P, double* x, std::uint32_t free_mask,
                             const double* lo, const double* hi, const LmOptions& opt,
                             LmWorkN<NP>& w) {
#if !defined(__CUDA_ARCH__)  // on the host, compile-time sizes for small laws (the device: run-time sizes, same bits)
    const std::uint32_t all = P >= 1 && P < 32 ? (1u << P) - 1u : 0u;
    if (all != 0u && (free_mask & all) == all) return detail::lm_iterate_fixed<1>(eval, P, x, free_mask, lo, hi, opt, w);
#endif
    return detail::lm_iterate<0>(eval, P, x, free_mask, lo, hi, opt, w);
}

}  // namespace lawfit

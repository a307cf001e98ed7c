// A batch: many independent problems over one ragged (CSR) point layout, and
// the per-problem driver every back end calls.  Problem i fits law
// problem_law[i] (points offsets[law] .. offsets[law+1]) from start p0[i];
// starts and resamples of one law share its points.
#pragma once
#include <cmath>
#include <cstdint>

#include "config.hpp"
#include "evaluator.hpp"
#include "lm.hpp"
#include "program.hpp"
#include "status.hpp"

namespace lawfit {

struct BatchView {
    ProgramView prog;
    const double* columns;     // n_columns x n_total_points
    std::int64_t n_points;     // total points = column stride
    const double* y;           // n_points
    const double* weight;      // n_points or null (1 / sigma^2)
    const std::int64_t* offsets;  // n_laws + 1
    std::int64_t n_laws;
    const std::int64_t* problem_law;  // n_problems, or null: problem i uses law i
    std::int64_t n_problems;
    const double* p0;              // n_problems x P
    const std::uint8_t* fixed;     // P (stride 0) or n_problems x P; nonzero = held
    std::int64_t fixed_stride;
    const double* lower;           // like fixed
    const double* upper;
    std::int64_t bounds_stride;
    LmOptions opt;
    Objective objective;
    // Bootstrap: problem k fits resample problem_resample[k] of its law (< 0 or
    // a null array: the data as given); group ids (law-local, per point) make
    // whole groups the resampling unit.  law_key gives each law a stable id for
    // the RNG (e.g. a hash of its group label), so a law draws the same
    // resamples whatever else is in the batch.
    std::uint64_t seed;
    const std::int64_t* law_key;  // n_laws: the law's id in the RNG key (null: its index)
    const std::int64_t* problem_resample;
    const std::int32_t* group;
    bool evaluate_only;  // only the cost at p0 (the multistart pruning pass)
    // Outputs (caller-owned).
    double* params;     // n_problems x P
    double* cost;       // n_problems
    std::int32_t* nit;
    std::int32_t* nfev;
    std::int32_t* status;
    double* jtj;        // n_problems x P x P, or null
};

// Scratch one worker needs to solve problems one after another.
template <int B>
struct Workspace {
    BlockScratch<B> block;
    Accumulator<B> acc;
    LmWork lm;
};

namespace detail {
LAWFIT_HD inline bool is_finite(double v) { return v - v == 0.0; }

LAWFIT_HD inline void write_result(const BatchView& b, std::int64_t i, const LmOutcome& o,
                                   const double* A) {
    const int P = b.prog.n_params;
    b.cost[i] = o.cost;
    b.nit[i] = o.nit;
    b.nfev[i] = o.nfev;
    b.status[i] = static_cast<std::int32_t>(o.status);
    if (b.jtj)
        for (int j = 0; j < P * P; ++j) b.jtj[i * P * P + j] = A ? A[j] : 0.0;
}
}  // namespace detail

// Validates problem i, runs LM on it and writes its outputs.
template <int B>
LAWFIT_HD void solve_problem(const BatchView& b, std::int64_t i, Workspace<B>& ws) {
    const int P = b.prog.n_params;
    double* x = b.params + i * P;
    const double* lo = b.lower + i * b.bounds_stride;
    const double* hi = b.upper + i * b.bounds_stride;
    const std::uint8_t* fixed = b.fixed ? b.fixed + i * b.fixed_stride : nullptr;
    LmOutcome bad;
    bad.status = Status::BAD_INPUT;

    std::uint32_t free_mask = 0;
    bool ok = P >= 0 && P <= kMaxParams;
    for (int j = 0; ok && j < P; ++j) {
        x[j] = b.p0[i * P + j];
        ok = detail::is_finite(x[j]) && !(lo[j] > hi[j]) && x[j] >= lo[j] && x[j] <= hi[j];
        if (!fixed || !fixed[j]) free_mask |= 1u << j;
    }
    const std::int64_t law = b.problem_law ? b.problem_law[i] : i;
    ok = ok && law >= 0 && law < b.n_laws;
    std::int64_t begin = 0, end = 0;
    if (ok) {
        begin = b.offsets[law];
        end = b.offsets[law + 1];
        int n_free = 0;
        for (std::uint32_t m = free_mask; m; m &= m - 1) ++n_free;
        ok = begin >= 0 && end <= b.n_points && end - begin >= (n_free > 0 ? n_free : 1);
    }
    Resample resample;
    resample.seed = b.seed;
    resample.law = b.law_key ? b.law_key[law] : law;
    resample.index = b.problem_resample ? b.problem_resample[i] : -1;
    resample.group = b.group;
    ok = ok && b.objective.delta > 0.0;
    std::int64_t n_used = 0;  // points with a positive multiplicity
    for (std::int64_t k = begin; ok && k < end; ++k) {
        ok = detail::is_finite(b.y[k]) && (!b.weight || (detail::is_finite(b.weight[k]) && b.weight[k] >= 0.0)) &&
             (!b.group || b.group[k] >= 0);
        for (int c = 0; ok && c < b.prog.n_columns; ++c)
            ok = detail::is_finite(b.columns[c * b.n_points + k]);
        if (resample.index >= 0) n_used += resample.count(k, begin) > 0;
    }
    if (ok && resample.index >= 0) {
        int n_free = 0;
        for (std::uint32_t m = free_mask; m; m &= m - 1) ++n_free;
        ok = n_used >= n_free;  // a resample that drew too few distinct points
    }
    if (!ok) {
        detail::write_result(b, i, bad, nullptr);
        return;
    }
    ProblemData data{b.columns, b.n_points, b.y, b.weight, begin, end};
    ProgramEvaluator<B> eval{b.prog, data, b.objective, resample, ws.block, ws.acc};
    if (b.evaluate_only) {
        LmOutcome o;
        o.nfev = 1;
        o.status = eval(x, free_mask, ws.lm.A, ws.lm.g, &o.cost) ? Status::NOT_RUN : Status::NON_FINITE;
        detail::write_result(b, i, o, ws.lm.A);
        return;
    }
    const LmOutcome o = lm_solve(eval, P, x, free_mask, lo, hi, b.opt, ws.lm);
    detail::write_result(b, i, o, ws.lm.A);
}

}  // namespace lawfit

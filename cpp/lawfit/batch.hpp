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
    const double* p0;              // n_problems x P, or null with a start grid
    // Starts generated where the problem runs (never materialised): problem i
    // starts at point i mod n_grid of the grid whose parameter j takes the
    // grid_sizes[j] values stored one parameter after another in start_grid;
    // C order, the last parameter varying fastest (like itertools.product);
    // grid points outside a problem's bounds are clipped onto them.  Without
    // problem_law, problem i fits law i / n_grid; with grid_resamples = R > 0
    // (and neither problem_law nor problem_resample) the whole
    // laws x resamples x starts product is generated: problem i fits law
    // i / (R n_grid), resample (i / n_grid) mod R, from grid point i mod n_grid.
    const double* start_grid;
    const std::int32_t* grid_sizes;  // P
    std::int64_t n_grid;
    std::int64_t grid_resamples;
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

// Scratch one worker needs to solve problems one after another, for laws of
// up to NP parameters whose programs reach a stack depth of at most NS.
template <int B, int NP = kMaxParams, int NS = kMaxStack>
struct Workspace {
    BlockScratch<B, NP, NS> block;
    Accumulator<B, NP> acc;
    LmWorkN<NP> lm;
};

// Size classes: the scratch capacities a back end instantiates.  A batch runs
// in the smallest class that holds its law (every problem of a batch shares
// one program), so a 2-parameter power law does not carry the memory of a
// 16-parameter one.
template <int NP, int NS>
struct SizeClass {
    static constexpr int kParams = NP;
    static constexpr int kStack = NS;
};

// Calls f(SizeClass<NP, NS>{}) with the smallest class for the program.
// Returns false (f not called) when the program does not fit the largest.
template <class F>
bool with_size_class(const ProgramView& prog, F&& f) {
    const int P = prog.n_params, depth = program_stack_depth(prog);
    if (depth < 0 || P < 0) return false;
    if (P <= 4 && depth <= 8) return f(SizeClass<4, 8>{}), true;
    if (P <= 8 && depth <= 12) return f(SizeClass<8, 12>{}), true;
    if (P <= kMaxParams && depth <= kMaxStack) return f(SizeClass<kMaxParams, kMaxStack>{}), true;
    return false;
}

namespace detail {
LAWFIT_HD inline bool is_finite(double v) { return v - v == 0.0; }

LAWFIT_HD inline int popcount(std::uint32_t m) {
    int n = 0;
    for (; m; m &= m - 1) ++n;
    return n;
}

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

// Problem i's start (all P parameters) into x.
LAWFIT_HD inline void problem_start(const BatchView& b, std::int64_t i, double* x) {
    const int P = b.prog.n_params;
    if (!b.start_grid) {
        for (int j = 0; j < P; ++j) x[j] = b.p0[i * P + j];
        return;
    }
    std::int64_t r = i % b.n_grid, end = 0;
    for (int j = 0; j < P; ++j) end += b.grid_sizes[j];
    for (int j = P - 1; j >= 0; --j) {
        const std::int64_t size = b.grid_sizes[j];
        end -= size;
        x[j] = b.start_grid[end + r % size];
        r /= size;
    }
}

// What problem i fits: its law's points, free parameters and resample.
struct ProblemSetup {
    bool ok = false;
    std::int64_t begin = 0, end = 0;
    std::uint32_t free_mask = 0;
    int n_free = 0;
    Resample resample;

    LAWFIT_HD ProblemData data(const BatchView& b) const {
        return ProblemData{b.columns, b.n_points, b.y, b.weight, begin, end};
    }
};

// Checks problem i's start, bounds and law and copies its start into x.  The
// per-point checks are check_points(), split out so that a group of GPU
// threads can share them.
LAWFIT_HD inline ProblemSetup setup_problem(const BatchView& b, std::int64_t i, int max_params, double* x) {
    ProblemSetup su;
    const int P = b.prog.n_params;
    const double* lo = b.lower + i * b.bounds_stride;
    const double* hi = b.upper + i * b.bounds_stride;
    const std::uint8_t* fixed = b.fixed ? b.fixed + i * b.fixed_stride : nullptr;
    bool ok = P >= 0 && P <= max_params;
    if (ok) problem_start(b, i, x);
    for (int j = 0; ok && j < P; ++j) {
        if (b.start_grid) x[j] = x[j] < lo[j] ? lo[j] : (x[j] > hi[j] ? hi[j] : x[j]);  // as numpy.clip
        ok = detail::is_finite(x[j]) && !(lo[j] > hi[j]) && x[j] >= lo[j] && x[j] <= hi[j];
        if (!fixed || !fixed[j]) su.free_mask |= 1u << j;
    }
    su.n_free = detail::popcount(su.free_mask);
    const std::int64_t per_law = b.start_grid ? b.n_grid * (b.grid_resamples > 0 ? b.grid_resamples : 1) : 1;
    const std::int64_t law = b.problem_law ? b.problem_law[i] : i / per_law;
    ok = ok && law >= 0 && law < b.n_laws && b.objective.delta > 0.0;
    if (ok) {
        su.begin = b.offsets[law];
        su.end = b.offsets[law + 1];
        ok = su.begin >= 0 && su.end <= b.n_points && su.end - su.begin >= (su.n_free > 0 ? su.n_free : 1);
        const std::int64_t index = b.problem_resample                       ? b.problem_resample[i]
                                   : b.start_grid && b.grid_resamples > 0 ? (i / b.n_grid) % b.grid_resamples
                                                                          : -1;
        su.resample = Resample::of(b.seed, b.law_key ? b.law_key[law] : law, index, b.group);
    }
    su.ok = ok;
    return su;
}

// Checks points begin + first, begin + first + stride, ... of the problem:
// finite inputs and y, non-negative finite weights and group ids.  Returns
// false on a bad point; *n_used counts the points the resample draws.
// Branch-free, one array at a time: with the CPU's stride 1 (inlined, a
// constant) the loops vectorise, and a pass costs a fraction of an evaluation
// (the multistart's pruning pass evaluates each start once, after this check).
LAWFIT_HD inline bool check_points(const BatchView& b, const ProblemSetup& su, std::int64_t first,
                                   std::int64_t stride, std::int64_t* n_used) {
    const std::int64_t k0 = su.begin + first, end = su.end;
    std::uint64_t bad = 0;
    for (std::int64_t k = k0; k < end; k += stride) bad |= math::non_finite_bit(b.y[k]);
    if (b.weight)
        for (std::int64_t k = k0; k < end; k += stride)
            bad |= math::non_finite_bit(b.weight[k]) | (b.weight[k] < 0.0);
    if (b.group)
        for (std::int64_t k = k0; k < end; k += stride) bad |= b.group[k] < 0;
    for (int c = 0; c < b.prog.n_columns; ++c) {
        const double* col = b.columns + c * b.n_points;
        for (std::int64_t k = k0; k < end; k += stride) bad |= math::non_finite_bit(col[k]);
    }
    std::int64_t used = 0;  // the data as given: every point checked here
    if (su.resample.index < 0)
        used = k0 < end ? (end - k0 + stride - 1) / stride : 0;
    else
        for (std::int64_t k = k0; k < end; k += stride) used += su.resample.count(k, su.begin) > 0;
    *n_used = used;
    return !bad;
}

// A resample that drew fewer distinct points than free parameters cannot be fitted.
LAWFIT_HD inline bool enough_points(const ProblemSetup& su, std::int64_t n_used) {
    return su.resample.index < 0 || n_used >= su.n_free;
}

// Problem i from x with any evaluator: LM, or with evaluate_only the cost at x
// (status NOT_RUN, or NON_FINITE).  On return ws.A is J^T W J at x, except for
// an evaluate_only batch without J^T W J outputs (the multistart's pruning
// pass, which ranks starts by cost): there only the cost is accumulated (no
// parameter is differentiated into A and g: half the work of a point), and a
// start whose cost is finite counts as evaluable.  The cost's bits are those
// of the full evaluation (the same per-point terms, added in the same order).
template <class Eval, int NP>
LAWFIT_HD LmOutcome fit_problem(Eval& eval, const BatchView& b, std::int64_t i, const ProblemSetup& su, double* x,
                                LmWorkN<NP>& w) {
    if (!b.evaluate_only)
        return lm_solve(eval, b.prog.n_params, x, su.free_mask, b.lower + i * b.bounds_stride,
                        b.upper + i * b.bounds_stride, b.opt, w);
    LmOutcome o;
    o.nfev = 1;
    const std::uint32_t mask = b.jtj ? su.free_mask : 0u;
    o.status = eval(x, mask, w.A, w.g, &o.cost) ? Status::NOT_RUN : Status::NON_FINITE;
    return o;
}

// Outputs of a problem that cannot be fitted: status BAD_INPUT, no
// evaluations, cost NaN (never a best start), x (P values) = its start as given.
LAWFIT_HD inline void write_bad_input(const BatchView& b, std::int64_t i, double* x) {
    problem_start(b, i, x);
    LmOutcome bad;
    bad.status = Status::BAD_INPUT;
    bad.cost = NAN;
    detail::write_result(b, i, bad, nullptr);
}

// Validates problem i, runs LM on it with evaluator Eval (built from the
// program, the problem's points, objective and resample, and ws's scratch)
// and writes its outputs.  `counts` (room for `counts_size` values, or null)
// holds a resample's counts drawn once for the problem instead of at every
// evaluation.
template <class Eval, int B, int NP, int NS>
LAWFIT_HD void solve_problem_with(const BatchView& b, std::int64_t i, Workspace<B, NP, NS>& ws,
                                  std::int32_t* counts = nullptr, std::int64_t counts_size = 0) {
    const int P = b.prog.n_params;
    double* x = b.params + i * P;
    ProblemSetup su = setup_problem(b, i, NP, x);
    if (su.ok && counts && su.resample.index >= 0 && su.end - su.begin <= counts_size) {
        for (std::int64_t k = su.begin; k < su.end; ++k) {
            const bool valid_group = !b.group || b.group[k] >= 0;  // bad ids fail check_points below
            counts[k - su.begin] = valid_group ? su.resample.count(k, su.begin) : 0;
        }
        su.resample.cache = counts;
    }
    std::int64_t n_used = 0;
    su.ok = su.ok && check_points(b, su, 0, 1, &n_used) && enough_points(su, n_used);
    if (!su.ok) {
        write_bad_input(b, i, x);
        return;
    }
    Eval eval{b.prog, su.data(b), b.objective, su.resample, ws.block, ws.acc};
    const LmOutcome o = fit_problem(eval, b, i, su, x, ws.lm);
    detail::write_result(b, i, o, ws.lm.A);
}

// solve_problem_with the CPU's evaluator: blocks of B points, which Runner
// evaluates (evaluator.hpp: the interpreter unless code was generated).
template <class Runner = Interpreter, int B, int NP, int NS>
LAWFIT_HD void solve_problem(const BatchView& b, std::int64_t i, Workspace<B, NP, NS>& ws,
                             std::int32_t* counts = nullptr, std::int64_t counts_size = 0) {
    solve_problem_with<ProgramEvaluator<B, NP, NS, Runner>>(b, i, ws, counts, counts_size);
}

}  // namespace lawfit

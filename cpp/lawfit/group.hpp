// The group layout: kBlock (= 16) threads solve one problem together.  Lane
// i evaluates points begin + i, begin + i + 16, ... and keeps its own partial
// sums, exactly lane i of a CPU block (config.hpp); the group then adds the 16
// partial sums in lane order, as the CPU does, so the layout gives results
// bit-identical to the CPU back end.  Every lane runs the same LM iteration on
// the same sums (no divergence inside a group; the iteration is cheap next to
// evaluating many points).
//
// Device-agnostic: `Group` is anything with thread_rank(), shfl(v, lane) and
// all(pred) over kBlock threads -- a CUDA cooperative-groups tile on the GPU
// (cuda/group_layout.cuh), 16 CPU threads in the tests (tests/cpp), which is
// how this GPU code is checked where no GPU is.
#pragma once
#include <cstdint>

#include "batch.hpp"
#include "evaluator.hpp"

// Templates here call the group's device-only methods when Group is a CUDA
// tile; nvcc must not check their host instantiation, which never exists.
#if defined(__CUDACC__)
#define LAWFIT_GROUP_HD _Pragma("nv_exec_check_disable")
#else
#define LAWFIT_GROUP_HD
#endif

namespace lawfit {

// Sum over the group in lane order: every lane gets the same bits.
LAWFIT_GROUP_HD
template <class Group, class T>
LAWFIT_HD T group_sum(const Group& group, T v) {
    T s = 0;
    for (int i = 0; i < kBlock; ++i) s += group.shfl(v, i);
    return s;
}

template <class Group, class Runner, int NP, int NS>
struct GroupEvaluator {
    const Group& group;
    const ProgramView& prog;
    ProblemData data;
    Objective obj;
    Resample resample;
    BlockScratch<1, NP, NS>& s;
    Accumulator<1, NP>& acc;

    // The ProgramEvaluator contract (evaluator.hpp), called by every lane.
    LAWFIT_GROUP_HD
    LAWFIT_HD bool operator()(const double* params, std::uint32_t free_mask, double* A, double* g,
                               double* cost) {
        bool ok = true, first = true;
        std::uint32_t mask = 0;
        for (std::int64_t p = data.begin + group.thread_rank(); p < data.end; p += kBlock) {
            if (!Runner::run(prog, data.columns, data.col_stride, p, 1, params, free_mask, s)) {
                ok = false;
                break;
            }
            if (first) {
                mask = s.mask[0] & free_mask;
                acc.reset(mask);
                first = false;
            }
            accumulate_block(obj, data, resample, p, 1, mask, s, acc);
        }
        if (!group.all(ok)) return false;
        mask = group.shfl(mask, 0);  // lane 0 always has a point (setup_problem)
        if (first) acc.reset(mask);
        const Accumulator<1, NP>& a = acc;
        const Group& grp = group;
        auto lane_sum = [&a, &grp](int j, int k) {
            return group_sum(grp, j < 0 ? a.cost[0] : (k < 0 ? a.g[j][0] : a.A[j][k][0]));
        };
        return finish_sums(prog.n_params, mask, lane_sum, A, g, cost);
    }
};

// solve_problem() for a group: problem i, whose lanes all call this.
LAWFIT_GROUP_HD
template <class Runner, class Group, int NP, int NS>
LAWFIT_HD void solve_problem_group(const Group& group, const BatchView& b, std::int64_t i,
                                   Workspace<1, NP, NS>& ws) {
    const int P = b.prog.n_params;
    double x[NP];
    ProblemSetup su = setup_problem(b, i, NP, x);
    std::int64_t n_used = 0;
    bool ok = su.ok && check_points(b, su, group.thread_rank(), kBlock, &n_used);
    ok = group.all(ok);
    n_used = group_sum(group, n_used);
    const bool lead = group.thread_rank() == 0;
    if (!(ok && enough_points(su, n_used))) {
        if (lead) write_bad_input(b, i, b.params + i * P);
        return;
    }
    GroupEvaluator<Group, Runner, NP, NS> eval{group, b.prog, su.data(b), b.objective, su.resample, ws.block,
                                               ws.acc};
    const LmOutcome o = fit_problem(eval, b, i, su, x, ws.lm);
    if (lead) {
        for (int j = 0; j < P; ++j) b.params[i * P + j] = x[j];
        detail::write_result(b, i, o, ws.lm.A);
    }
}

}  // namespace lawfit

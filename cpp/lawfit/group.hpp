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

// What the evaluators of both GPU layouts hold, and how either runs one lane
// of a CPU block: lane i's points begin + i, begin + i + kBlock, ..., one at a
// time into acc, which the lane's first point resets with the program's
// dependency mask.
template <class Runner, int NP, int NS>
struct LaneEvaluator {
    const ProgramView& prog;
    ProblemData data;
    Objective obj;
    Resample resample;
    BlockScratch<1, NP, NS>& s;
    Accumulator<1, NP>& acc;

    // False if the program fails.  *has_points: whether the lane had any
    // (without, acc and *mask are left as they were).
    LAWFIT_HD bool run_lane(int lane, const double* params, std::uint32_t free_mask, bool* has_points,
                            std::uint32_t* mask) {
        *has_points = false;
        if constexpr (Runner::kFused) {  // generated code: evaluation and accumulation in one pass,
            // one point at a time (run_fused with one lane), as ProgramEvaluator decides
            const bool counted = resample.index < 0 || resample.cache;
            if (counted && (Runner::kMask & ~free_mask) == 0) {
                switch (obj.loss) {
                    case Loss::L2: return fused_lane<Loss::L2>(lane, params, has_points, mask);
                    case Loss::HUBER: return fused_lane<Loss::HUBER>(lane, params, has_points, mask);
                    case Loss::SOFT_L1: return fused_lane<Loss::SOFT_L1>(lane, params, has_points, mask);
                    default: break;
                }
            }
        }
        for (std::int64_t p = data.begin + lane; p < data.end; p += kBlock) {
            if (!Runner::run(prog, data.columns, data.col_stride, p, 1, params, free_mask, s)) return false;
            if (!*has_points) {
                *mask = s.mask[0] & free_mask;
                acc.reset(*mask);
                *has_points = true;
            }
            accumulate_block(obj, data, resample, p, 1, *mask, s, acc);
        }
        return true;
    }

    template <Loss kLoss>
    LAWFIT_HD bool fused_lane(int lane, const double* params, bool* has_points, std::uint32_t* mask) {
        return obj.log_residual ? fused_lane<true, kLoss>(lane, params, has_points, mask)
                                : fused_lane<false, kLoss>(lane, params, has_points, mask);
    }

    template <bool kLog, Loss kLoss>
    LAWFIT_HD bool fused_lane(int lane, const double* params, bool* has_points, std::uint32_t* mask) {
        const double d2 = obj.delta * obj.delta;
        for (std::int64_t p = data.begin + lane; p < data.end; p += kBlock) {
            if (!*has_points) {
                *mask = Runner::kMask;  // = the program's mask & free_mask here
                acc.reset(*mask);
                *has_points = true;
            }
            const std::int32_t* counts = resample.index < 0 ? nullptr : resample.cache + (p - data.begin);
            Runner::template run_fused<1, NP, kLog, kLoss, 1>(data.columns, data.col_stride, p, 1, params, data.y,
                                                              data.weight, counts, d2, obj.irls_floor, acc, 0);
        }
        return true;
    }
};

template <class Group, class Runner, int NP, int NS>
struct GroupEvaluator : LaneEvaluator<Runner, NP, NS> {
    const Group& group;

    // The ProgramEvaluator contract (evaluator.hpp), called by every lane.
    LAWFIT_GROUP_HD
    LAWFIT_HD bool operator()(const double* params, std::uint32_t free_mask, double* A, double* g,
                               double* cost) {
        bool has_points = false;
        std::uint32_t mask = 0;
        const bool ok = this->run_lane(group.thread_rank(), params, free_mask, &has_points, &mask);
        if (!group.all(ok)) return false;
        mask = group.shfl(mask, 0);  // lane 0 always has a point (setup_problem)
        if (!has_points) this->acc.reset(mask);
        const Accumulator<1, NP>& a = this->acc;
        const Group& grp = group;
        auto lane_sum = [&a, &grp](int j, int k) {
            return group_sum(grp, j < 0 ? a.cost[0] : (k < 0 ? a.g[j][0] : a.A[j][k][0]));
        };
        return finish_sums(this->prog.n_params, mask, lane_sum, A, g, cost);
    }
};

// The thread layout: one GPU thread solves a problem alone yet adds its
// points up as a CPU block (and a group) does: lane i's partial sums over
// points begin + i, begin + i + kBlock, ..., the lane sums then added in lane
// order.  The lanes run one after another through one Accumulator<1>, and each
// finished lane is added to the running totals, which are the same additions
// in the same order as group_sum's; so one thread holds one lane's scratch,
// not kBlock lanes', and gives the CPU's bits (generated code runs fused, one
// point at a time: the operations of the CPU's fused lanes).
template <class Runner, int NP, int NS>
struct LaneOrderEvaluator : LaneEvaluator<Runner, NP, NS> {
    LAWFIT_HD bool operator()(const double* params, std::uint32_t free_mask, double* A, double* g,
                              double* cost) {
        double sums[1 + NP + NP * (NP + 1) / 2];
        std::uint32_t mask = 0;  // lane 0's, as in the group layout (lane 0 always has a point)
        for (int lane = 0; lane < kBlock; ++lane) {
            bool has_points = false;
            std::uint32_t lane_mask = 0;
            if (!this->run_lane(lane, params, free_mask, &has_points, &lane_mask)) return false;
            // A lane without points (and every later one) would add +0, which
            // leaves a sum from +0 unchanged.
            if (!has_points) break;
            if (lane == 0) mask = lane_mask;
            int q = 0;  // each sum from 0.0, as group_sum's
            for_each_sum(this->acc, mask, [&sums, &q, lane](const double* v) {
                if (lane == 0) sums[q] = 0.0;
                sums[q++] += v[0];
            });
        }
        int next = 0;
        auto lane_sum = [&sums, &next](int, int) { return sums[next++]; };
        return finish_sums(this->prog.n_params, mask, lane_sum, A, g, cost);
    }
};

// solve_problem() for the thread layout: problem i by one thread, in lane order.
template <class Runner, int NP, int NS>
LAWFIT_HD void solve_problem_lane_order(const BatchView& b, std::int64_t i, Workspace<1, NP, NS>& ws) {
    solve_problem_with<LaneOrderEvaluator<Runner, NP, NS>>(b, i, ws);
}

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
    GroupEvaluator<Group, Runner, NP, NS> eval{{b.prog, su.data(b), b.objective, su.resample, ws.block, ws.acc},
                                               group};
    const LmOutcome o = fit_problem(eval, b, i, su, x, ws.lm);
    if (lead) {
        for (int j = 0; j < P; ++j) b.params[i * P + j] = x[j];
        detail::write_result(b, i, o, ws.lm.A);
    }
}

}  // namespace lawfit

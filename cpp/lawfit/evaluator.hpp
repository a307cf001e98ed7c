// Evaluates one problem's objective pieces at given parameters: the cost, its
// gradient g and the Gauss-Newton matrix A, accumulated block by block while
// the program runs; the Jacobian is never stored.
//
// Plain least squares: cost = 1/2 sum w r^2, g = J^T W r, A = J^T W J with
// r = f - y (or log f - log y with log residuals, J then scaled by 1/f).
// Robust losses follow scipy.optimize.least_squares: with z = w r^2 / delta^2,
// cost = 1/2 delta^2 sum rho(z), g = sum rho'(z) w r J (the exact gradient) and
// A = sum max(rho' + 2 rho'' z, eps) w J J^T (Triggs et al. 2000, "Bundle
// adjustment - a modern synthesis", sec. 4.3: the second-order correction that
// scipy's scale_for_robust_loss_function applies).  Bootstrap multiplicities
// multiply every term.
#pragma once
#include <cmath>
#include <cstdint>

#include "config.hpp"
#include "loss.hpp"
#include "program.hpp"
#include "rng.hpp"

namespace lawfit {

// Points [begin, end) of a ragged batch; weight (1/sigma^2) is optional and
// indexed like y.  With log residuals y already holds log(y).
struct ProblemData {
    const double* columns;
    std::int64_t col_stride;
    const double* y;
    const double* weight;
    std::int64_t begin;
    std::int64_t end;
};

// How residuals become the cost.
struct Objective {
    Loss loss = Loss::L2;
    double delta = 1.0;         // scale of the robust loss (scipy's f_scale)
    bool log_residual = false;  // r = log f - log y
    // Gauss-Newton matrix of robust losses: the weight of J J^T is
    // max(rho' + 2 rho'' z, irls_floor * rho').  0 = Triggs' second-order
    // correction (scipy's); 1 = IRLS weights rho' (Holland & Welsch 1977).
    // Both use the exact gradient, so they share optima; IRLS keeps the points
    // in Huber's linear region in A, which Triggs' weight zeroes.
    double irls_floor = 0.0;
};

// Which bootstrap resample this problem fits (index < 0: the data as given).
// With group ids (law-local, >= 0) whole groups share one multiplicity.
struct Resample {
    std::int64_t index = -1;
    std::uint64_t key = 0;                // resample_key(seed, law, index)
    const std::int32_t* group = nullptr;  // indexed like y, or null
    // The problem's counts drawn once (point - begin), or null: drawn at every
    // evaluation.  The CPU back end fills it (the draw costs more than a law's
    // point); a GPU thread has no room for it.  Same counts either way.
    const std::int32_t* cache = nullptr;

    LAWFIT_HD static Resample of(std::uint64_t seed, std::int64_t law, std::int64_t index,
                                 const std::int32_t* group) {
        Resample r;
        r.index = index;
        r.key = index < 0 ? 0 : resample_key(seed, law, index);
        r.group = group;
        return r;
    }

    LAWFIT_HD int count(std::int64_t point, std::int64_t begin) const {
        if (index < 0) return 1;
        if (cache) return cache[point - begin];
        return resample_count(key, group ? group[point] : point - begin);
    }
};

namespace detail {
// a += x * y over B lanes.  A separate function so the restrict qualifiers
// are on parameters, where compilers honour them (and vectorise).
template <int B>
LAWFIT_HD inline void add_product(double* __restrict a, const double* __restrict x,
                                  const double* __restrict y) {
    LAWFIT_LANES for (int i = 0; i < B; ++i) a[i] += x[i] * y[i];
}
template <int B>
LAWFIT_HD inline void set_product(double* __restrict a, const double* __restrict x,
                                  const double* __restrict y) {
    LAWFIT_LANES for (int i = 0; i < B; ++i) a[i] = x[i] * y[i];
}

// One point's robust-loss terms for Huber (kHuber) or soft_l1: loss_rho's
// values written branch-free (both sides of Huber's kink computed, one
// selected) so loops over lanes vectorise.  In: r, w (point weight), m
// (multiplicity); adds the cost and returns the weights of r in g (wr) and of
// J J^T in A (wt), as the general loop in accumulate_block.  Generated code
// (lawfit.codegen) calls the same function, so both round alike.
// What every robust loss does with rho, rho', rho'' at z (= w r^2 / delta^2): the
// IRLS curvature h = rho' + 2 rho'' z floored at floor * rho' (and at eps), the cost,
// and the weights of r in g (wr) and of J J^T in A (wt).
LAWFIT_HD LAWFIT_INLINE void robust_tail(double r0, double r1, double r2, double z, double r, double w, double m,
                                         double d2, double floor, double& cost, double& wr, double& wt) {
    double h = r1 + 2.0 * r2 * z;
    h = h > floor * r1 ? h : floor * r1;
    h = h > 2.220446049250313e-16 ? h : 2.220446049250313e-16;
    cost += m * d2 * r0;
    wr = m * r1 * w * r;
    wt = m * h * w;
}

template <bool kHuber>
LAWFIT_HD LAWFIT_INLINE void robust_point(double r, double w, double m, double d2, double floor, double& cost,
                                   double& wr, double& wt) {
    const double z = w * r * r / d2;
    double r0, r1, r2;
    if (kHuber) {
        const double sq = std::sqrt(z);
        const bool inner = z <= 1.0;
        r0 = inner ? z : 2.0 * sq - 1.0;
        r1 = inner ? 1.0 : 1.0 / sq;
        r2 = inner ? 0.0 : -0.5 / (z * sq);
    } else {
        const double t = 1.0 + z, sq = std::sqrt(t);
        r0 = 2.0 * (sq - 1.0);
        r1 = 1.0 / sq;
        r2 = -0.5 / (t * sq);
    }
    robust_tail(r0, r1, r2, z, r, w, m, d2, floor, cost, wr, wt);
}

// robust_point over B lanes: wr holds y on entry, wt the point weights.
template <int B, bool kHuber>
LAWFIT_HD inline void robust_lanes(const double* __restrict f, const double* __restrict mult, double d2,
                                   double floor, double* __restrict wr, double* __restrict wt,
                                   double* __restrict cost) {
    LAWFIT_LANES for (int i = 0; i < B; ++i) {
        double c = cost[i], a, b;
        robust_point<kHuber>(f[i] - wr[i], wt[i], mult[i], d2, floor, c, a, b);
        cost[i] = c;
        wr[i] = a;
        wt[i] = b;
    }
}
}  // namespace detail

// Per-lane running sums of the cost, g and A over the blocks of one problem.
// Only entries (j, k >= j) of parameters in the result's mask are used.
template <int B, int NP = kMaxParams>
struct Accumulator {
    alignas(64) double cost[B];
    alignas(64) double g[NP][B];
    alignas(64) double A[NP][NP][B];
    alignas(64) double wg[B];  // w * (gradient row j) of the current block

    LAWFIT_NO_MEMSET LAWFIT_HD void reset(std::uint32_t mask) {
        LAWFIT_LANES for (int i = 0; i < B; ++i) cost[i] = 0.0;
        for (std::uint32_t m = mask; m;) {
            const int j = detail::next_bit(m);
            LAWFIT_LANES for (int i = 0; i < B; ++i) g[j][i] = 0.0;
            for (std::uint32_t m2 = mask >> j; m2;) {
                const int k = detail::next_bit(m2) + j;
                LAWFIT_LANES for (int i = 0; i < B; ++i) A[j][k][i] = 0.0;
            }
        }
    }
};

// Adds the block just run (points p0 .. p0 + nb - 1, result in s's slot 0) to
// the lane sums.  Lane i only ever sees points p0 + i of successive blocks, so
// B lanes spread over B GPU threads add exactly what one CPU block adds.
template <int B, int NP, int NS>
LAWFIT_HD void accumulate_block(const Objective& obj, const ProblemData& data, const Resample& resample,
                                std::int64_t p0, int nb, std::uint32_t mask, BlockScratch<B, NP, NS>& s,
                                Accumulator<B, NP>& acc) {
    double* __restrict f = s.val[0];
    if (obj.log_residual) {  // d log f = df / f
        double* __restrict inv_f = s.tmp_a;
        LAWFIT_LANES for (int i = 0; i < B; ++i) {
            inv_f[i] = 1.0 / f[i];
            f[i] = math::log(f[i]);
        }
        detail::scale_grads<B>(s.grad[0], mask, inv_f);
    }
    double* __restrict wr = s.tmp_a;   // weight of r in g
    double* __restrict wt = s.tmp_b;   // weight of J J^T in A
    double* __restrict mult = acc.wg;  // multiplicity (0 on padding lanes)
    // Each input read in its own loop (no per-lane branch on weight or
    // resample), so the copies vectorise.
    // Padding lanes: weight and multiplicity 0, y the last point's.
    detail::load_lanes<B>(wr, data.y + p0, nb, data.y[p0 + nb - 1]);
    if (data.weight) {
        detail::load_lanes<B>(wt, data.weight + p0, nb, 0.0);
    } else {
        detail::fill_lanes<B>(wt, nb, 1.0, 0.0);
    }
    if (resample.index < 0) {
        detail::fill_lanes<B>(mult, nb, 1.0, 0.0);
    } else if (resample.cache) {
        detail::load_lanes<B>(mult, resample.cache + (p0 - data.begin), nb, 0.0);
    } else {
        for (int i = 0; i < nb; ++i) mult[i] = resample.count(p0 + i, data.begin);
        for (int i = nb; i < B; ++i) mult[i] = 0.0;
    }
    if (obj.loss == Loss::L2) {
        LAWFIT_LANES for (int i = 0; i < B; ++i) {
            const double r = f[i] - wr[i];
            wt[i] *= mult[i];
            wr[i] = wt[i] * r;
            acc.cost[i] += wr[i] * r;
        }
    } else if (obj.loss == Loss::HUBER) {
        detail::robust_lanes<B, true>(f, mult, obj.delta * obj.delta, obj.irls_floor, wr, wt, acc.cost);
    } else if (obj.loss == Loss::SOFT_L1) {
        detail::robust_lanes<B, false>(f, mult, obj.delta * obj.delta, obj.irls_floor, wr, wt, acc.cost);
    } else {
        const double d2 = obj.delta * obj.delta;
        for (int i = 0; i < B; ++i) {  // cauchy, arctan: loss_rho's branches, the same tail
            const double r = f[i] - wr[i], w = wt[i], m = mult[i];
            double r0, r1, r2;
            const double z = w * r * r / d2;
            loss_rho(obj.loss, z, r0, r1, r2);
            detail::robust_tail(r0, r1, r2, z, r, w, m, d2, obj.irls_floor, acc.cost[i], wr[i], wt[i]);
        }
    }
    for (std::uint32_t m = mask; m;) {
        const int j = detail::next_bit(m);
        const double* gj = s.grad[0][j];
        detail::add_product<B>(acc.g[j], wr, gj);
        detail::set_product<B>(acc.wg, wt, gj);
        for (std::uint32_t m2 = mask >> j; m2;) {
            const int k = detail::next_bit(m2) + j;
            detail::add_product<B>(acc.A[j][k], acc.wg, s.grad[0][k]);
        }
    }
}

// Calls f(lanes) with each quantity's B lane values in the order finish_sums
// asks for them: the cost, then per parameter j of the mask g_j and A_jk (k >= j).
template <int B, int NP, class F>
LAWFIT_HD void for_each_sum(const Accumulator<B, NP>& a, std::uint32_t mask, F&& f) {
    f(a.cost);
    for (std::uint32_t m = mask; m;) {
        const int j = detail::next_bit(m);
        f(a.g[j]);
        for (std::uint32_t m2 = mask >> j; m2;) f(a.A[j][detail::next_bit(m2) + j]);
    }
}

// out[k] = src[k][0] + src[k][1] + ... + src[k][B-1], added in lane order, for
// K quantities at once: K independent chains of B dependent additions that
// the CPU overlaps (with 8, two additions a cycle: the adder's throughput
// rather than its latency bounds the sums).
template <int K, int B>
LAWFIT_HD inline void sum_lanes(const double* const* src, double* out) {
    double a[K];
    _Pragma("GCC unroll 8") for (int k = 0; k < K; ++k) a[k] = 0.0;
    _Pragma("GCC unroll 16") for (int i = 0; i < B; ++i) {
        _Pragma("GCC unroll 8") for (int k = 0; k < K; ++k) a[k] += src[k][i];
    }
    _Pragma("GCC unroll 8") for (int k = 0; k < K; ++k) out[k] = a[k];
}

// Writes cost = 1/2 sum, g and the full symmetric A from the lane sums; `sum`
// adds up one quantity over the lanes (on the CPU a loop over B lanes, on the
// GPU the same loop over the threads of a group), always in lane order so
// every back end rounds alike.  Returns false if anything is non-finite.
template <class LaneSum>
LAWFIT_HD bool finish_sums(int P, std::uint32_t mask, LaneSum&& sum, double* A, double* g, double* cost) {
    const std::uint32_t all = P < 32 ? (1u << P) - 1u : ~0u;
    if (mask != all) {  // rows of parameters outside the mask stay 0; with all of them every entry is written
        for (int j = 0; j < P * P; ++j) A[j] = 0.0;
        for (int j = 0; j < P; ++j) g[j] = 0.0;
    }
    const double c = sum(-1, -1);
    for (std::uint32_t m = mask; m;) {
        const int j = detail::next_bit(m);
        g[j] = sum(j, -1);
        for (std::uint32_t m2 = mask >> j; m2;) {
            const int k = detail::next_bit(m2) + j;
            const double a = sum(j, k);
            A[j * P + k] = a;
            A[k * P + j] = a;
        }
    }
    *cost = 0.5 * c;
    // One branch-free pass over the bits (check_points' test), not a branch per value.
    std::uint64_t bad = math::non_finite_bit(*cost);
    for (int j = 0; j < P; ++j) bad |= math::non_finite_bit(g[j]);
    for (int j = 0; j < P * P; ++j) bad |= math::non_finite_bit(A[j]);
    return !bad;
}

// How a block of points is evaluated: the interpreter runs any program; code
// generated for one program (lawfit.codegen, compiled at run time) provides a
// class with the same static run() and gives the same bits without dispatch.
struct Interpreter {
    static constexpr bool kFused = false;  // generated code may also fuse the accumulation (run_fused)
    template <int B, int NP, int NS>
    LAWFIT_HD static bool run(const ProgramView& prog, const double* columns, std::int64_t col_stride,
                              std::int64_t point0, int nb, const double* params, std::uint32_t free_mask,
                              BlockScratch<B, NP, NS>& s) {
        return run_block(prog, columns, col_stride, point0, nb, params, free_mask, s);
    }
};

template <int B, int NP = kMaxParams, int NS = kMaxStack, class Runner = Interpreter>
struct ProgramEvaluator {
    const ProgramView& prog;
    ProblemData data;
    Objective obj;
    Resample resample;
    BlockScratch<B, NP, NS>& s;
    Accumulator<B, NP>& acc;

    // A is P x P row-major (full symmetric; rows of fixed parameters zero).
    // Returns false if the program fails or anything is non-finite.
    LAWFIT_HD bool operator()(const double* params, std::uint32_t free_mask, double* A, double* g,
                              double* cost) {
        std::uint32_t mask = 0;
        bool first = true;
        if constexpr (Runner::kFused) {
            // Generated code: evaluation and accumulation in one pass, the
            // same operations as the general path below, for the losses with
            // branch-free terms (a resample needs its counts drawn once:
            // resample.cache, CPU only).
            const bool counted = resample.index < 0 || resample.cache;
            if (counted && (Runner::kMask & ~free_mask) == 0 && data.end > data.begin) {
                switch (obj.loss) {
                    case Loss::L2: return fused_in<Loss::L2>(params, A, g, cost);
                    case Loss::HUBER: return fused_in<Loss::HUBER>(params, A, g, cost);
                    case Loss::SOFT_L1: return fused_in<Loss::SOFT_L1>(params, A, g, cost);
                    default: break;
                }
            }
        }
        for (std::int64_t p0 = data.begin; p0 < data.end; p0 += B) {
            const int nb = static_cast<int>(data.end - p0 < B ? data.end - p0 : B);
            if (!Runner::run(prog, data.columns, data.col_stride, p0, nb, params, free_mask, s)) return false;
            if (first) {  // the result's dependency mask is the same for every block
                mask = s.mask[0] & free_mask;
                acc.reset(mask);
                first = false;
            }
            accumulate_block(obj, data, resample, p0, nb, mask, s, acc);
        }
        if (first) acc.reset(0);  // no points
        return finish(mask, A, g, cost);
    }

    // fused on linear or log residuals, as the objective says.
    template <Loss kLoss>
    LAWFIT_HD bool fused_in(const double* params, double* A, double* g, double* cost) {
        return obj.log_residual ? fused<true, kLoss>(params, A, g, cost) : fused<false, kLoss>(params, A, g, cost);
    }

    template <bool kLog, Loss kLoss>
    LAWFIT_HD bool fused(const double* params, double* A, double* g, double* cost) {
        acc.reset(Runner::kMask);
        const double d2 = obj.delta * obj.delta;
        for (std::int64_t p0 = data.begin; p0 < data.end; p0 += B) {
            const int nb = static_cast<int>(data.end - p0 < B ? data.end - p0 : B);
            const std::int32_t* counts = resample.index < 0 ? nullptr : resample.cache + (p0 - data.begin);
            constexpr int Q = B % 4 == 0 && B >= 8 ? B / 4 : B;
            if (Q < B && 4 * nb <= 3 * B) {
                // A short last block in chunks of B/4 lanes (a 40-point problem
                // runs 40 lanes, not 48): lane p0 + i is still lane i, and the
                // lanes left out would only have added zeros (weight and
                // multiplicity 0), which leave a lane sum's bits unchanged (a
                // sum from +0 is never -0), so the result is bit-identical.
                for (int lane0 = 0; lane0 < nb; lane0 += Q) {
                    const int nc = nb - lane0 < Q ? nb - lane0 : Q;
                    Runner::template run_fused<B, NP, kLog, kLoss, Q>(
                        data.columns, data.col_stride, p0 + lane0, nc, params, data.y, data.weight,
                        counts ? counts + lane0 : nullptr, d2, obj.irls_floor, acc, lane0);
                }
            } else if (kLoss == Loss::L2 && nb == B && !data.weight && !counts) {
                // unit weights on a whole block: the same sums without multiplying by 1
                Runner::template run_fused<B, NP, kLog, Loss::L2, B, true>(data.columns, data.col_stride, p0, nb,
                                                                           params, data.y, nullptr, nullptr, d2,
                                                                           obj.irls_floor, acc, 0);
            } else {
                Runner::template run_fused<B, NP, kLog, kLoss, B>(data.columns, data.col_stride, p0, nb, params,
                                                                  data.y, data.weight, counts, d2,
                                                                  obj.irls_floor, acc, 0);
            }
        }
        return finish(Runner::kMask, A, g, cost);
    }

    LAWFIT_HD bool finish(std::uint32_t mask, double* A, double* g, double* cost) const {
        const Accumulator<B, NP>& a = acc;
        // Every quantity's lane sum at once, lanes outer and quantities inner:
        // each sum still adds its lanes in order (the bits of one running sum
        // per quantity), but the sums are independent chains the CPU overlaps
        // instead of one chain of B dependent additions after another.
        constexpr int kMaxQ = 1 + NP + NP * (NP + 1) / 2;
        const double* src[kMaxQ];
        double sums[kMaxQ];
        int nq = 0;
        for_each_sum(a, mask, [&src, &nq](const double* lanes) { src[nq++] = lanes; });
        int q = 0;
        for (; q + 8 <= nq; q += 8) sum_lanes<8, B>(src + q, sums + q);
        switch (nq - q) {  // the last 0-7 quantities, again side by side
            case 7: sum_lanes<7, B>(src + q, sums + q); break;
            case 6: sum_lanes<6, B>(src + q, sums + q); break;
            case 5: sum_lanes<5, B>(src + q, sums + q); break;
            case 4: sum_lanes<4, B>(src + q, sums + q); break;
            case 3: sum_lanes<3, B>(src + q, sums + q); break;
            case 2: sum_lanes<2, B>(src + q, sums + q); break;
            case 1: sum_lanes<1, B>(src + q, sums + q); break;
            default: break;
        }
        int next = 0;  // finish_sums asks for the quantities in the order listed above
        auto lane_sum = [&sums, &next](int, int) { return sums[next++]; };
        return finish_sums(prog.n_params, mask, lane_sum, A, g, cost);
    }
};

}  // namespace lawfit

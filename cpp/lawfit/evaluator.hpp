// Evaluates one problem's weighted least-squares pieces at given parameters:
// cost = 1/2 sum w r^2, g = J^T W r and A = J^T W J (r = f - y), accumulated
// block by block while the program runs; the Jacobian is never stored.
#pragma once
#include <cmath>
#include <cstdint>

#include "config.hpp"
#include "program.hpp"

namespace lawfit {

// Points [begin, end) of a ragged batch.  weight (1/sigma^2) and multiplicity
// (bootstrap counts) are optional and indexed like y.
struct ProblemData {
    const double* columns;
    std::int64_t col_stride;
    const double* y;
    const double* weight;
    const double* multiplicity;
    std::int64_t begin;
    std::int64_t end;
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
}  // namespace detail

template <int B>
struct Accumulator {
    alignas(64) double cost[B];
    alignas(64) double g[kMaxParams][B];
    alignas(64) double A[kMaxParams][kMaxParams][B];
    alignas(64) double wg[B];  // w * (gradient row j) of the current block
};

template <int B>
struct ProgramEvaluator {
    const ProgramView& prog;
    ProblemData data;
    BlockScratch<B>& s;
    Accumulator<B>& acc;

    // A is P x P row-major (full symmetric; rows of fixed parameters zero).
    // Returns false if the program fails or anything is non-finite.
    LAWFIT_HD bool operator()(const double* params, std::uint32_t free_mask, double* A, double* g,
                              double* cost) {
        const int P = prog.n_params;
        std::uint32_t mask = 0;
        bool first = true;
        for (std::int64_t p0 = data.begin; p0 < data.end; p0 += B) {
            const int nb = static_cast<int>(data.end - p0 < B ? data.end - p0 : B);
            if (!run_block<B>(prog, data.columns, data.col_stride, p0, nb, params, free_mask, s))
                return false;
            if (first) {
                // The result's dependency mask is the same for every block.
                mask = s.mask[0] & free_mask;
                LAWFIT_LANES for (int i = 0; i < B; ++i) acc.cost[i] = 0.0;
                for (std::uint32_t m = mask; m;) {
                    const int j = detail::next_bit(m);
                    LAWFIT_LANES for (int i = 0; i < B; ++i) acc.g[j][i] = 0.0;
                    for (std::uint32_t m2 = mask >> j; m2;) {
                        const int k = detail::next_bit(m2) + j;
                        LAWFIT_LANES for (int i = 0; i < B; ++i) acc.A[j][k][i] = 0.0;
                    }
                }
                first = false;
            }
            const double* __restrict f = s.val[0];
            double* __restrict wr = s.tmp_a;  // w * r
            double* __restrict wt = s.tmp_b;  // w (0 on padding lanes)
            for (int i = 0; i < nb; ++i) {
                double w = data.weight ? data.weight[p0 + i] : 1.0;
                if (data.multiplicity) w *= data.multiplicity[p0 + i];
                wt[i] = w;
                wr[i] = data.y[p0 + i];
            }
            for (int i = nb; i < B; ++i) {
                wt[i] = 0.0;
                wr[i] = data.y[p0 + nb - 1];
            }
            LAWFIT_LANES for (int i = 0; i < B; ++i) {
                const double r = f[i] - wr[i];
                wr[i] = wt[i] * r;
                acc.cost[i] += wr[i] * r;
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
        for (int j = 0; j < P * P; ++j) A[j] = 0.0;
        for (int j = 0; j < P; ++j) g[j] = 0.0;
        double c = 0.0;
        if (!first) {
            LAWFIT_LANES for (int i = 0; i < B; ++i) c += acc.cost[i];
            for (std::uint32_t m = mask; m;) {
                const int j = detail::next_bit(m);
                double gs = 0.0;
                LAWFIT_LANES for (int i = 0; i < B; ++i) gs += acc.g[j][i];
                g[j] = gs;
                for (std::uint32_t m2 = mask >> j; m2;) {
                    const int k = detail::next_bit(m2) + j;
                    double as = 0.0;
                    LAWFIT_LANES for (int i = 0; i < B; ++i) as += acc.A[j][k][i];
                    A[j * P + k] = as;
                    A[k * P + j] = as;
                }
            }
        }
        *cost = 0.5 * c;
        bool finite = std::isfinite(*cost);
        for (int j = 0; j < P; ++j) finite = finite && std::isfinite(g[j]);
        for (int j = 0; j < P * P; ++j) finite = finite && std::isfinite(A[j]);
        return finite;
    }
};

}  // namespace lawfit

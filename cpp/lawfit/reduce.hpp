// Reductions over the results of a batch, shared by the back ends so that the
// GPU can shrink its outputs before they leave the device:
//
// * best of a run: the problems of a batch come in runs of S consecutive
//   problems (one law's starts, or one resample's starts); each run keeps its
//   lowest converged cost (lawfit.multistart.reduce_best's rule).
// * replicate summaries: for runs of R problems (one law's bootstrap
//   resamples), the mean, standard deviation and quantiles of each parameter
//   over the converged replicates (numpy.percentile's default 'linear' rule).
#pragma once
#include <cmath>
#include <cstdint>

#include "batch.hpp"
#include "config.hpp"
#include "status.hpp"

namespace lawfit {

// Index (0 .. n-1) of the best problem of the run starting at `first`: the
// lowest cost among converged problems with a finite cost; if none converged,
// the lowest finite cost; if none is finite, 0.  Ties keep the earliest, like
// numpy.argmin.  *n_converged counts the converged problems with finite cost.
LAWFIT_HD inline std::int64_t best_in_run(const double* cost, const std::int32_t* status, std::int64_t first,
                                          std::int64_t n, std::int64_t* n_converged) {
    std::int64_t best_conv = -1, best_any = -1, n_conv = 0;
    for (std::int64_t k = 0; k < n; ++k) {
        const double c = cost[first + k];
        if (!std::isfinite(c)) continue;
        if (converged(static_cast<Status>(status[first + k]))) {
            ++n_conv;
            if (best_conv < 0 || c < cost[first + best_conv]) best_conv = k;
        }
        if (best_any < 0 || c < cost[first + best_any]) best_any = k;
    }
    *n_converged = n_conv;
    return best_conv >= 0 ? best_conv : (best_any >= 0 ? best_any : 0);
}

namespace detail {
// In-place ascending heap sort: O(n log n) with no extra memory, so one GPU
// thread can sort its replicates where they lie.
LAWFIT_HD inline void sift_down(double* v, std::int64_t root, std::int64_t n) {
    while (true) {
        std::int64_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && v[child + 1] > v[child]) ++child;
        if (!(v[child] > v[root])) return;
        const double t = v[root];
        v[root] = v[child];
        v[child] = t;
        root = child;
    }
}
}  // namespace detail

LAWFIT_HD inline void heap_sort(double* v, std::int64_t n) {
    for (std::int64_t k = n / 2 - 1; k >= 0; --k) detail::sift_down(v, k, n);
    for (std::int64_t end = n - 1; end > 0; --end) {
        const double t = v[0];
        v[0] = v[end];
        v[end] = t;
        detail::sift_down(v, 0, end);
    }
}

// Quantile q (0..1) of n ascending values by numpy.percentile's default rule
// ('linear', Hyndman & Fan 1996 type 7): position q (n - 1), linear
// interpolation written as numpy's _lerp writes it, so results match numpy's
// to the last bit.
LAWFIT_HD inline double sorted_quantile(const double* v, std::int64_t n, double q) {
    if (n <= 0) return NAN;
    const double pos = q * static_cast<double>(n - 1);
    double lo_d = std::floor(pos);
    if (lo_d < 0.0) lo_d = 0.0;
    std::int64_t lo = static_cast<std::int64_t>(lo_d);
    if (lo > n - 1) lo = n - 1;
    const std::int64_t hi = lo + 1 < n ? lo + 1 : n - 1;
    const double t = pos - lo_d, a = v[lo], b = v[hi];
    const double diff = b - a;
    return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

// Summary of one parameter over a run of replicates.  `values` (n doubles,
// reordered in place) are the parameter's replicates, `use[k]` says which
// count (converged).  Writes mean, sample standard deviation (ddof = 1, NaN
// below two replicates) and n_q quantiles (quantiles[k * q_stride]); returns
// the number of replicates used.
LAWFIT_HD inline std::int64_t summarize_replicates(double* values, const bool* use, std::int64_t n, const double* q,
                                                   int n_q, double* mean, double* sd, double* quantiles,
                                                   std::int64_t q_stride) {
    std::int64_t m = 0;
    for (std::int64_t k = 0; k < n; ++k)
        if (use[k] && std::isfinite(values[k])) values[m++] = values[k];
    double s = 0.0;
    for (std::int64_t k = 0; k < m; ++k) s += values[k];
    const double mu = m > 0 ? s / static_cast<double>(m) : NAN;
    double ss = 0.0;
    for (std::int64_t k = 0; k < m; ++k) ss += (values[k] - mu) * (values[k] - mu);
    *mean = mu;
    *sd = m > 1 ? std::sqrt(ss / static_cast<double>(m - 1)) : NAN;
    heap_sort(values, m);
    for (int k = 0; k < n_q; ++k) quantiles[k * q_stride] = sorted_quantile(values, m, q[k]);
    return m;
}

// What to keep of a batch's results.  best_of = S > 1: every run of S
// consecutive problems keeps only its best (outputs with n_problems / S rows,
// `best` its index in the run).  summary_runs = R > 0: after that, every run
// of R consecutive results is summarised per parameter (mean, sd, quantiles
// over the converged ones) and only the summaries are kept.  Layouts (row
// major): mean, sd, n_used (runs, P); quantiles (runs, n_q, P).
struct ReduceView {
    std::int64_t best_of = 1;
    std::int64_t summary_runs = 0;
    const double* q = nullptr;  // quantiles in [0, 1]
    int n_q = 0;
    // Best-of outputs (n_problems / best_of rows); unused when best_of == 1.
    double* params = nullptr;
    double* cost = nullptr;
    std::int32_t* nit = nullptr;
    std::int32_t* nfev = nullptr;
    std::int32_t* status = nullptr;
    double* jtj = nullptr;
    std::int64_t* best = nullptr;
    std::int64_t* n_converged = nullptr;
    // Summary outputs (one row per run of summary_runs results).
    double* mean = nullptr;       // x P
    double* sd = nullptr;         // x P
    double* quantiles = nullptr;  // x n_q x P
    std::int64_t* n_used = nullptr;  // x P
};

// Copies the best problem of run `run` (problems run*S .. run*S + S - 1 of the
// batch's outputs) into row `run` of the best-of outputs.
LAWFIT_HD inline void keep_best_of_run(const BatchView& b, const ReduceView& r, std::int64_t run) {
    const int P = b.prog.n_params;
    const std::int64_t first = run * r.best_of;
    std::int64_t n_conv = 0;
    const std::int64_t k = first + best_in_run(b.cost, b.status, first, r.best_of, &n_conv);
    for (int j = 0; j < P; ++j) r.params[run * P + j] = b.params[k * P + j];
    r.cost[run] = b.cost[k];
    r.nit[run] = b.nit[k];
    r.nfev[run] = b.nfev[k];
    r.status[run] = b.status[k];
    if (r.jtj && b.jtj)
        for (int j = 0; j < P * P; ++j) r.jtj[run * P * P + j] = b.jtj[k * P * P + j];
    r.best[run] = k - first;
    r.n_converged[run] = n_conv;
}

// Summarises parameter j over run `run` of the results (params, cost,
// status: the batch's own outputs, or the best-of ones).  `values` and `use`
// are scratch of summary_runs entries.
LAWFIT_HD inline void summarize_run(const double* params, const double* cost, const std::int32_t* status, int P,
                                    const ReduceView& r, std::int64_t run, int j, double* values, bool* use) {
    const std::int64_t R = r.summary_runs, first = run * R;
    for (std::int64_t k = 0; k < R; ++k) {
        values[k] = params[(first + k) * P + j];
        use[k] = converged(static_cast<Status>(status[first + k])) && std::isfinite(cost[first + k]);
    }
    r.n_used[run * P + j] = summarize_replicates(values, use, R, r.q, r.n_q, &r.mean[run * P + j],
                                                 &r.sd[run * P + j], r.quantiles + run * r.n_q * P + j, P);
}

}  // namespace lawfit

// covariance: the inverse of many small J^T J matrices at once.
#include <algorithm>
#include <thread>
#include <vector>

#include <pybind11/typing.h>

#include "common.hpp"

namespace lawfit {
namespace bindings {

namespace {

// scaled_spd_inverse_lanes with P known at compile time for the sizes laws
// have (unrolled loops, eight lanes: 20,000 matrices of P = 5 in 2.0 ms instead
// of 2.9, P = 8 in 5.9 instead of 10; the same bits), else at run time.
template <int W, int KP = 1>
void invert_lanes(const double* const* a, int P, double* const* o, bool* g, double min_pivot) {
    if constexpr (KP <= 8) {
        if (P == KP) return scaled_spd_inverse_lanes<W, KP>(a, P, o, g, min_pivot);
        return invert_lanes<W, KP + 1>(a, P, o, g, min_pivot);
    } else {
        scaled_spd_inverse_lanes<W>(a, P, o, g, min_pivot);
    }
}

py::typing::Tuple<carray<double>, carray<bool>> covariance(const carray<double>& jtj, double min_pivot) {
    require(jtj.ndim() == 3 && jtj.shape(1) == jtj.shape(2), "jtj must have shape (K, P, P)");
    const std::int64_t K = jtj.shape(0);
    const int P = static_cast<int>(jtj.shape(1));
    require(P >= 1 && P <= kMaxParams, "P out of range");
    carray<double> out({K, static_cast<std::int64_t>(P), static_cast<std::int64_t>(P)});
    carray<bool> ok(K);
    const double* in = jtj.data();
    double* res = out.mutable_data();
    bool* good = ok.mutable_data();
    auto invert = [=](std::int64_t first, std::int64_t last) {
        // Eight matrices side by side in SIMD lanes (the same bits as one at a time), the rest singly.
        constexpr int W = 8;
        std::int64_t k = first;
        for (; k + W <= last; k += W) {
            const double* a[W];
            double* o[W];
            bool g[W];
            for (int l = 0; l < W; ++l) {
                a[l] = in + (k + l) * P * P;
                o[l] = res + (k + l) * P * P;
            }
            invert_lanes<W>(a, P, o, g, min_pivot);
            for (int l = 0; l < W; ++l) good[k + l] = g[l];
        }
        double work[kMaxParams * kMaxParams];
        for (; k < last; ++k) good[k] = scaled_spd_inverse(in + k * P * P, P, res + k * P * P, work, min_pivot);
    };
    {
        py::gil_scoped_release release;
        // Independent small inversions: split large batches over the cores
        // (each matrix is done by one thread, so results do not depend on it).
        const std::int64_t n_threads = K < 4096 ? 1 : std::min<std::int64_t>(
            std::max(1u, std::thread::hardware_concurrency()), K / 2048);
        std::vector<std::thread> pool;
        for (std::int64_t t = 1; t < n_threads; ++t)
            pool.emplace_back(invert, K * t / n_threads, K * (t + 1) / n_threads);
        invert(0, K / n_threads);
        for (auto& th : pool) th.join();
    }
    return py::make_tuple(out, ok);
}

}  // namespace

void register_covariance(py::module_& m) {
    m.def("covariance", &covariance, py::arg("jtj"), py::arg("min_pivot"),
          "Inverse of each J^T J in scaled form; ok=False where it is singular or nearly so.");
}

}  // namespace bindings
}  // namespace lawfit

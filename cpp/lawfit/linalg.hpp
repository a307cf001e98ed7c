// Small dense linear algebra for the LM step (n <= kMaxParams), no allocation.
#pragma once
#include <cmath>
#include <cstdint>

#include "config.hpp"
#include "opcodes.hpp"

namespace lawfit {

// In-place Cholesky factorisation of the symmetric positive definite n x n
// matrix M (row-major, leading dimension ld): the lower triangle becomes L and
// inv_diag[j] = 1 / L[j][j] (solves multiply by it: these tiny systems are
// bound by division latency, not by flops).  Returns false if a pivot is not
// positive and finite.
LAWFIT_HD inline bool cholesky(double* M, int n, int ld, double* inv_diag) {
    for (int j = 0; j < n; ++j) {
        double d = M[j * ld + j];
        for (int k = 0; k < j; ++k) d -= M[j * ld + k] * M[j * ld + k];
        if (!(d > 0.0) || !std::isfinite(d)) return false;
        const double ljj = std::sqrt(d);
        const double inv = 1.0 / ljj;
        M[j * ld + j] = ljj;
        inv_diag[j] = inv;
        for (int i = j + 1; i < n; ++i) {
            double v = M[i * ld + j];
            for (int k = 0; k < j; ++k) v -= M[i * ld + k] * M[j * ld + k];
            M[i * ld + j] = v * inv;
        }
    }
    return true;
}

// Solves L y = b in place (forward substitution).
LAWFIT_HD inline void forward_solve(const double* L, const double* inv_diag, int n, int ld, double* b) {
    for (int i = 0; i < n; ++i) {
        double v = b[i];
        for (int k = 0; k < i; ++k) v -= L[i * ld + k] * b[k];
        b[i] = v * inv_diag[i];
    }
}

// Solves L L^T x = b in place (b becomes x) with L from cholesky().
LAWFIT_HD inline void cholesky_solve(const double* L, const double* inv_diag, int n, int ld, double* b) {
    forward_solve(L, inv_diag, n, ld, b);
    for (int i = n - 1; i >= 0; --i) {
        double v = b[i];
        for (int k = i + 1; k < n; ++k) v -= L[k * ld + i] * b[k];
        b[i] = v * inv_diag[i];
    }
}

// K damped systems (S + lams[l] I) z_l = -b of one m x m S (lower triangle,
// leading dimension ld) factorised and solved side by side (host code): lane l
// performs exactly cholesky() and cholesky_solve()'s operations in their order
// into Ls[l], invs[l] and zs[l], so its bits are those of a factorisation on
// its own; interleaved, the K chains of square roots and divisions overlap
// (lm.hpp's trust-region step).  M > 0: m is that constant.  ok[l]: the
// factorisation succeeded (a failed lane's outputs are garbage, as a failed
// cholesky()'s).
template <int K, int M = 0>
inline void damped_cholesky_solve_lanes(const double* S, const double* b, int m_run, int ld, const double* lams,
                                   double* const* Ls, double* const* invs, double* const* zs, bool* ok) {
    const int m = M > 0 ? M : m_run;
    for (int l = 0; l < K; ++l) ok[l] = true;
    for (int a = 0; a < m; ++a) {
        for (int c = 0; c <= a; ++c)
            for (int l = 0; l < K; ++l) Ls[l][a * ld + c] = S[a * ld + c];
        for (int l = 0; l < K; ++l) Ls[l][a * ld + a] += lams[l];
    }
    for (int j = 0; j < m; ++j) {
        double inv[K];
        for (int l = 0; l < K; ++l) {
            double* L = Ls[l];
            double d = L[j * ld + j];
            for (int k = 0; k < j; ++k) d -= L[j * ld + k] * L[j * ld + k];
            ok[l] = ok[l] && d > 0.0 && std::isfinite(d);
            const double ljj = std::sqrt(d);
            inv[l] = 1.0 / ljj;
            L[j * ld + j] = ljj;
            invs[l][j] = inv[l];
        }
        for (int i = j + 1; i < m; ++i)
            for (int l = 0; l < K; ++l) {
                double* L = Ls[l];
                double v = L[i * ld + j];
                for (int k = 0; k < j; ++k) v -= L[i * ld + k] * L[j * ld + k];
                L[i * ld + j] = v * inv[l];
            }
    }
    for (int a = 0; a < m; ++a)
        for (int l = 0; l < K; ++l) zs[l][a] = -b[a];
    for (int i = 0; i < m; ++i)  // forward_solve
        for (int l = 0; l < K; ++l) {
            double v = zs[l][i];
            for (int k = 0; k < i; ++k) v -= Ls[l][i * ld + k] * zs[l][k];
            zs[l][i] = v * invs[l][i];
        }
    for (int i = m - 1; i >= 0; --i)  // cholesky_solve's back substitution
        for (int l = 0; l < K; ++l) {
            double v = zs[l][i];
            for (int k = i + 1; k < m; ++k) v -= Ls[l][k * ld + i] * zs[l][k];
            zs[l][i] = v * invs[l][i];
        }
}

// Inverse of a symmetric positive definite P x P matrix A (row-major, full)
// computed in Jacobi-scaled form: S = D^-1 A D^-1 with D = sqrt(diag A), then
// A^-1 = D^-1 S^-1 D^-1, which keeps the digits that parameters of very
// different magnitude would otherwise cost.  `work` holds P*P doubles.
// Returns false (out untouched beyond garbage) when a diagonal entry is zero or
// a scaled pivot falls below min_pivot, i.e. A is singular or close to it; the
// caller then uses a rank-revealing pseudo-inverse instead.
LAWFIT_HD inline bool scaled_spd_inverse(const double* A, int P, double* out, double* work,
                                         double min_pivot) {
    for (int j = 0; j < P; ++j)
        if (!(A[j * P + j] > 0.0)) return false;
    if (P > kMaxParams) return false;
    // sqrt(A_ii A_jj) once per pair (the product commutes exactly): the scaling and the unscaling.
    double scale[kMaxParams * kMaxParams];
    for (int i = 0; i < P; ++i)
        for (int j = 0; j <= i; ++j) {
            const double s = std::sqrt(A[i * P + i] * A[j * P + j]);
            scale[i * P + j] = s;
            scale[j * P + i] = s;
            work[i * P + j] = A[i * P + j] / s;
        }
    double inv_diag[kMaxParams];
    if (!cholesky(work, P, P, inv_diag)) return false;
    for (int j = 0; j < P; ++j)
        if (work[j * P + j] * work[j * P + j] < min_pivot) return false;
    // Columns of S^-1 by solving S x = e_j.
    for (int j = 0; j < P; ++j) {
        double* col = out + j * P;  // row j of the symmetric inverse
        for (int i = 0; i < P; ++i) col[i] = i == j ? 1.0 : 0.0;
        cholesky_solve(work, inv_diag, P, P, col);
    }
    for (int i = 0; i < P * P; ++i) out[i] /= scale[i];
    return true;
}

// scaled_spd_inverse of W matrices at once, side by side in SIMD lanes (host code:
// the covariance of a whole batch).  Every lane performs exactly the scalar
// function's operations in its order (-ffp-contract=off), so each result has the
// same bits; a lane that fails is marked in ok[] and its out[] is left untouched.
// A[l] and out[l] point at lane l's P x P matrices.  KP > 0: P is the
// constant KP, so the loops over rows and columns unroll (same operations).
// The lanes are GCC/Clang vector types (element-wise IEEE arithmetic): plain
// loops over lanes, with sums over k inside or flags on bools, were left
// scalar by the vectoriser (185 ns a matrix at P = 5 against 60 ns).
template <int W>
struct Lanes {
    typedef double V __attribute__((vector_size(W * sizeof(double))));
};

template <int W, int KP = 0>
inline void scaled_spd_inverse_lanes(const double* const* A, int P_run, double* const* out, bool* ok,
                                     double min_pivot) {
    using V = typename Lanes<W>::V;
    const int P = KP > 0 ? KP : P_run;
    if (P > kMaxParams) {
        for (int l = 0; l < W; ++l) ok[l] = false;
        return;
    }
    constexpr double kMaxFinite = 1.7976931348623157e308;
    V a[kMaxParams * kMaxParams], work[kMaxParams * kMaxParams], scale[kMaxParams * kMaxParams];
    V inv_diag[kMaxParams], col[kMaxParams];
    for (int i = 0; i < P * P; ++i)
        for (int l = 0; l < W; ++l) a[i][l] = A[l][i];
    auto good = V{} == V{};  // every lane (comparisons give all bits set where true), until a test fails
    for (int j = 0; j < P; ++j) good &= a[j * P + j] > 0.0;
    // (square roots lane by lane in place: no vector argument or return, whose ABI differs
    // between builds with and without AVX-512)
    for (int i = 0; i < P; ++i)
        for (int j = 0; j <= i; ++j) {
            V sv = a[i * P + i] * a[j * P + j];
            for (int l = 0; l < W; ++l) sv[l] = std::sqrt(sv[l]);
            scale[i * P + j] = sv;
            scale[j * P + i] = sv;
            work[i * P + j] = a[i * P + j] / sv;
        }
    // cholesky()
    for (int j = 0; j < P; ++j) {
        V d = work[j * P + j];
        for (int k = 0; k < j; ++k) d -= work[j * P + k] * work[j * P + k];
        good &= (d > 0.0) & (d <= kMaxFinite);
        V ljj = d;
        for (int l = 0; l < W; ++l) ljj[l] = std::sqrt(ljj[l]);
        const V inv = 1.0 / ljj;
        work[j * P + j] = ljj;
        inv_diag[j] = inv;
        for (int i = j + 1; i < P; ++i) {
            V v = work[i * P + j];
            for (int k = 0; k < j; ++k) v -= work[i * P + k] * work[j * P + k];
            work[i * P + j] = v * inv;
        }
    }
    for (int j = 0; j < P; ++j) good &= ~(work[j * P + j] * work[j * P + j] < min_pivot);
    // Columns of S^-1 by solving S x = e_j (cholesky_solve), unscaled into a (the input copy is spent).
    for (int j = 0; j < P; ++j) {
        for (int i = 0; i < P; ++i) col[i] = V{} + (i == j ? 1.0 : 0.0);
        for (int i = 0; i < P; ++i) {
            V v = col[i];
            for (int k = 0; k < i; ++k) v -= work[i * P + k] * col[k];
            col[i] = v * inv_diag[i];
        }
        for (int i = P - 1; i >= 0; --i) {
            V v = col[i];
            for (int k = i + 1; k < P; ++k) v -= work[k * P + i] * col[k];
            col[i] = v * inv_diag[i];
        }
        for (int i = 0; i < P; ++i) a[j * P + i] = col[i] / scale[j * P + i];
    }
    for (int l = 0; l < W; ++l) {
        ok[l] = good[l] != 0;
        if (ok[l])
            for (int i = 0; i < P * P; ++i) out[l][i] = a[i][l];
    }
}

}  // namespace lawfit

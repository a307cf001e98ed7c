// Small dense linear algebra for the LM step (n <= kMaxParams), no allocation.
#pragma once
#include <cmath>

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

}  // namespace lawfit

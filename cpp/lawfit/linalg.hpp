// Small dense linear algebra for the LM step (n <= kMaxParams), no allocation.
#pragma once
#include <cmath>

#include "config.hpp"

namespace lawfit {

// In-place Cholesky factorisation of the symmetric positive definite n x n
// matrix M (row-major, leading dimension ld): the lower triangle becomes L.
// Returns false if a pivot is not positive and finite.
LAWFIT_HD inline bool cholesky(double* M, int n, int ld) {
    for (int j = 0; j < n; ++j) {
        double d = M[j * ld + j];
        for (int k = 0; k < j; ++k) d -= M[j * ld + k] * M[j * ld + k];
        if (!(d > 0.0) || !std::isfinite(d)) return false;
        const double ljj = std::sqrt(d);
        M[j * ld + j] = ljj;
        for (int i = j + 1; i < n; ++i) {
            double v = M[i * ld + j];
            for (int k = 0; k < j; ++k) v -= M[i * ld + k] * M[j * ld + k];
            M[i * ld + j] = v / ljj;
        }
    }
    return true;
}

// Solves L L^T x = b in place (b becomes x) with L from cholesky().
LAWFIT_HD inline void cholesky_solve(const double* L, int n, int ld, double* b) {
    for (int i = 0; i < n; ++i) {
        double v = b[i];
        for (int k = 0; k < i; ++k) v -= L[i * ld + k] * b[k];
        b[i] = v / L[i * ld + i];
    }
    for (int i = n - 1; i >= 0; --i) {
        double v = b[i];
        for (int k = i + 1; k < n; ++k) v -= L[k * ld + i] * b[k];
        b[i] = v / L[i * ld + i];
    }
}

}  // namespace lawfit
